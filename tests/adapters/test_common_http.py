"""The adapters' shared HTTP client, settings and credentials, against real local servers."""

from __future__ import annotations

import gc
import time
import weakref
from http import cookiejar
from typing import Any

import pytest

from adapters._common import auth, http, settings
from plugin_runtime import errors, interface
from tests.adapters import servers


def client(url: str, *, secrets: dict[str, str] | None = None, **overrides: Any) -> http.BackendClient:
    values = {"base_url": url, "timeout": "2s", "retry_count": 2, "retry_backoff": "10ms", **overrides}
    return http.BackendClient(
        name="Backend",
        settings=settings.validate(settings.HttpSettings, values, what="settings"),
        credentials=auth.from_secrets(secrets or {}),
        error_message=lambda response: response.json().get("message"),
    )


def failing_then_ok(failures: list[int]) -> servers.Handler:
    def handle(request: servers.Request) -> servers.Reply:
        if failures:
            return servers.Reply(failures.pop(0), {"message": "busy"})
        return servers.Reply(200, {"ok": True})

    return handle


def test_transient_statuses_are_retried_until_success() -> None:
    with servers.serving(failing_then_ok([503, 502])) as server:
        assert client(server.url).request_json("GET", "/x") == {"ok": True}
    assert len(server.requests) == 3


def test_retries_stop_after_retry_count_and_map_the_last_status() -> None:
    with (
        servers.serving(failing_then_ok([503, 503, 503, 503])) as server,
        pytest.raises(errors.PluginUnavailable) as caught,
    ):
        client(server.url).request("GET", "/x")
    assert len(server.requests) == 3  # one attempt and two retries
    assert caught.value.detail == "Backend answered HTTP 503: busy"


def test_a_backend_that_keeps_failing_is_retried_within_the_timeout() -> None:
    with servers.serving(failing_then_ok([503] * 100)) as server:
        started = time.monotonic()
        with pytest.raises(errors.PluginUnavailable):
            client(server.url, timeout="300ms", retry_count=10, retry_backoff="100ms").request("GET", "/x")
    assert time.monotonic() - started < 1.0  # ten retries with doubling 100 ms waits would take minutes
    assert 1 < len(server.requests) < 11


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, errors.BackendError),
        (404, errors.BackendError),
        (500, errors.BackendError),
        (504, errors.BackendTimeout),
        (429, errors.PluginUnavailable),
    ],
)
def test_error_statuses_map_onto_the_error_tree_with_the_backend_message(
    status: int, error: type[errors.PluginError]
) -> None:
    with (
        servers.serving(lambda request: servers.Reply(status, {"message": "it broke"}, {"Retry-After": "7"})) as server,
        pytest.raises(error) as caught,
    ):
        client(server.url, retry_count=0).request("GET", "/x")
    assert caught.value.detail == f"Backend answered HTTP {status}: it broke"
    assert caught.value.extensions["backend_status"] == status
    assert caught.value.retry_after == 7.0


def test_a_body_that_is_not_json_is_a_backend_error() -> None:
    with (
        servers.serving(lambda request: servers.Reply(200, "<html>")) as server,
        pytest.raises(errors.BackendError, match="not JSON"),
    ):
        client(server.url).request_json("GET", "/x")


def test_redirects_are_not_followed_so_credentials_stay_home() -> None:
    with (
        servers.serving(lambda request: servers.Reply(302, {}, {"Location": "http://elsewhere.test/"})) as server,
        pytest.raises(errors.BackendError),
    ):
        client(server.url, secrets={"bearer_token": "t"}).request("GET", "/x")
    assert len(server.requests) == 1


def test_secrets_echoed_by_a_backend_never_reach_error_messages() -> None:
    def echo(request: servers.Request) -> servers.Reply:
        return servers.Reply(401, {"message": f"bad credentials: {request.headers.get('authorization')}"})

    with servers.serving(echo) as server, pytest.raises(errors.BackendError) as caught:
        client(server.url, secrets={"bearer_token": "tok-XYZ-123"}).request("GET", "/x")
    assert "tok-XYZ-123" not in caught.value.detail
    assert caught.value.detail == "Backend answered HTTP 401: bad credentials: Bearer ***"


def test_basic_auth_is_sent_from_the_secrets() -> None:
    with servers.serving(lambda request: servers.Reply(200, {})) as server:
        client(server.url, secrets={"basic_username": "ann", "basic_password": "pw"}).request("GET", "/x")
    assert server.requests[0].headers["authorization"] == "Basic YW5uOnB3"


@pytest.mark.parametrize(
    ("secrets", "message"),
    [
        ({"basic_username": "ann"}, "needs both basic_username and basic_password"),
        ({"bearer_token": "t", "basic_username": "a", "basic_password": "b"}, "bearer_token and basic auth"),
        ({"bearer_token": "t", "api_key": "k"}, "bearer_token and api_key"),
    ],
)
def test_contradictory_secrets_are_refused_without_showing_them(secrets: dict[str, str], message: str) -> None:
    with pytest.raises(errors.InvalidInput) as caught:
        auth.from_secrets(secrets)
    assert message in caught.value.detail
    assert all(value not in caught.value.detail for value in secrets.values() if len(value) > 1)


def test_credentials_do_not_show_in_their_repr() -> None:
    assert "s3cr3t" not in repr(auth.from_secrets({"bearer_token": "s3cr3t"}))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "base_url: Field required"),
        ({"base_url": "ftp://x"}, "must be an http(s) URL"),
        ({"base_url": "https://user:pw@prom.example.com"}, "must not contain credentials"),
        ({"base_url": "https://x", "timeout": "soon"}, "timeout: invalid duration 'soon'"),
        ({"base_url": "https://x", "timeout": "0s"}, "timeout: must be a positive duration"),
        ({"base_url": "https://x", "retry_count": -1}, "retry_count"),
        ({"base_url": "https://x", "colour": "red"}, "colour: Extra inputs are not permitted"),
    ],
)
def test_bad_settings_are_invalid_input_naming_the_field(values: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.InvalidInput) as caught:
        settings.validate(settings.HttpSettings, values, what="settings of the x plugin")
    assert caught.value.detail.startswith("invalid settings of the x plugin: ")
    assert message in caught.value.detail
    assert "pw@" not in caught.value.detail


@pytest.mark.parametrize(("raw", "seconds"), [("30s", 30.0), ("1m30s", 90.0), ("250ms", 0.25), (12, 12.0)])
def test_durations_are_read_as_the_spec_writes_them(raw: Any, seconds: float) -> None:
    assert (
        settings.validate(settings.HttpSettings, {"base_url": "http://x", "timeout": raw}, what="s").timeout == seconds
    )


def test_a_health_probe_is_timed_and_never_raises() -> None:
    with servers.serving(lambda request: servers.Reply(200, {})) as server:
        up = client(server.url).probe("/ready", dependency="Backend API")
    down = client(servers.closed_port_url()).probe("/ready", dependency="Backend API")
    assert up.status is interface.HealthState.HEALTHY and up.response_time_ms is not None
    assert down.status is interface.HealthState.UNHEALTHY and down.message is not None
    assert down.message.startswith("unreachable")


def test_a_cookie_the_backend_sets_is_sent_back_and_answers_without_one_skip_the_cookie_jar(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parsed: list[int] = []
    extract = cookiejar.CookieJar.extract_cookies
    monkeypatch.setattr(
        cookiejar.CookieJar, "extract_cookies", lambda jar, *args: (parsed.append(1), extract(jar, *args))[1]
    )

    def handle(request: servers.Request) -> servers.Reply:
        if request.path == "/login":
            return servers.Reply(200, {"ok": True}, {"Set-Cookie": "affinity=node-2; Path=/"})
        return servers.Reply(200, {"cookie": request.headers.get("cookie")})

    with servers.serving(handle) as server:
        backend = client(server.url)
        assert backend.request_json("GET", "/before") == {"cookie": None}
        assert parsed == []  # no Set-Cookie: http.cookiejar's header copy and search are skipped
        backend.request_json("GET", "/login")
        assert backend.request_json("GET", "/after") == {"cookie": "affinity=node-2"}
    assert parsed == [1]


def test_request_paths_join_the_base_url_as_httpx_does_however_many_there_are() -> None:
    def handle(request: servers.Request) -> servers.Reply:
        return servers.Reply(200, {"path": request.path, "args": request.args})

    with servers.serving(handle) as server:
        backend = client(f"{server.url}/prefix")
        for _ in range(2):  # joined once, then the joined URL is used again
            assert backend.request_json("GET", "/api/v1/query", params={"q": "up"}) == {
                "path": "/prefix/api/v1/query",
                "args": {"q": "up"},
            }
            assert backend.request_json("GET", "rel?x=1") == {"path": "/prefix/rel", "args": {"x": "1"}}
        for page in range(http._KEPT_URLS + 10):  # next links: past the kept ones, joined per call
            answer = backend.request_json("GET", f"/items?$skiptoken={page}")
            assert answer == {"path": "/prefix/items", "args": {"$skiptoken": str(page)}}
        assert backend.request_json("GET", f"{server.url}/elsewhere") == {"path": "/elsewhere", "args": {}}


def test_an_answer_is_freed_when_dropped_without_waiting_for_the_cyclic_gc() -> None:
    with servers.serving(failing_then_ok([])) as server:
        backend = client(server.url)
        gc.collect()
        gc.disable()  # only reference counting: an answer in a cycle would stay
        try:
            response = backend.request("GET", "/x")
            assert response.json() == {"ok": True} and response.elapsed.total_seconds() > 0
            answer = weakref.ref(response)
            del response
            assert answer() is None
        finally:
            gc.enable()
