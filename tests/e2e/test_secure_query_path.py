"""Flow 3 with runtime auth on (the default): the executor's token in, a token shaped by the plugin's
`before_jwt_sign` and signed with a key from a Secret out to a real backend that verifies it — and
secret values with line breaks never showing up anywhere the operator, the API or the runtime writes."""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from devservices import http as local_http
from plugin_runtime import config as runtime_config
from tests.e2e.conftest import Harness, query_id, rest_plugin, unique, wait_for

AUDIENCE = "orders-backend"


class Backend:
    """A JSON API that answers only calls carrying a token it verifies, and records their claims."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.claims: list[dict[str, Any]] = []
        self.refused: list[str] = []
        self.url = ""

    def handle(self, request: http.server.BaseHTTPRequestHandler) -> tuple[int, dict[str, Any]]:
        path = urllib.parse.urlsplit(request.path).path
        if path == "/health":
            return 200, {"status": "ok"}
        scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
        try:
            claims = jwt.decode(token, self.key, algorithms=["HS256"], audience=AUDIENCE, options={"require": ["exp"]})
        except jwt.PyJWTError as exc:
            self.refused.append(f"{scheme}: {exc}")
            return 401, {"error": "invalid token"}
        self.claims.append(claims)
        return 200, {"items": [{"name": "order-1", "total": 12}, {"name": "order-2", "total": 30}]}


@contextlib.contextmanager
def serving(backend: Backend) -> Iterator[Backend]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = backend.handle(self)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    with local_http.serving(Handler) as backend.url:
        yield backend


def _secret(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "default"},
        "type": "Opaque",
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()},
    }


def _rest_plugin(name: str, *, backend: str, secret: str) -> dict[str, Any]:
    return rest_plugin(
        name,
        backend,
        ports=[urllib.parse.urlsplit(backend).port or 80],
        secretRefs=[{"name": "signing_key", "secretName": secret, "key": "key"}],
        outgoingToken={"signingKey": "signing_key", "audience": AUDIENCE, "ttl": "2m"},
    )


def _leaks(text: str, secret: str) -> list[str]:
    """Which forms of `secret` (raw, trimmed, escaped, base64) occur in `text`."""
    forms = {
        "raw": secret,
        "trimmed": secret.strip(),
        "repr": repr(secret)[1:-1],
        "bytes repr": repr(secret.encode())[2:-1],
        "base64": base64.b64encode(secret.encode()).decode().rstrip("="),
        "base64 trimmed": base64.b64encode(secret.strip().encode()).decode().rstrip("="),
    }
    return [name for name, form in forms.items() if form in text]


def test_backend_receives_a_token_shaped_by_the_plugin_and_signed_with_the_secret(harness: Harness) -> None:
    name, secret = unique("signed"), unique("signing")
    key = f"signing-key-{uuid.uuid4().hex}{uuid.uuid4().hex}"
    # `kubectl create secret --from-file` keeps the file's trailing newline: it must not break anything.
    harness.apply(_secret(secret, {"key": key + "\n"}))
    with serving(Backend(key)) as backend:
        harness.apply(_rest_plugin(name, backend=backend.url, secret=secret))
        status = harness.wait_phase(name, "Active", timeout=60)  # the operator's probes with auth on

        response = harness.query(name, params={"$top": "5"})
        assert response.status_code == 200, response.text
        assert [row["name"] for row in response.json()["value"]] == ["order-1", "order-2"]
        executor_call = backend.claims[-1]
        assert executor_call["sub"] == "dev-executor" and executor_call["aud"] == AUDIENCE
        assert executor_call["roles"] == [runtime_config.EXECUTE_ROLE]
        assert executor_call["adapter"] == "rest"  # added by the plugin's before_jwt_sign
        assert executor_call["iss"] == "hyperspot-plugin-runtime" and executor_call["exp"] - executor_call["iat"] == 120
        assert not backend.refused, backend.refused

        # Without the execute role, the runtime refuses before any backend call.
        calls = len(backend.claims)
        reader = harness.auth.executor_token(roles=["analytics:plugins:read"])
        assert harness.runtime_get(f"{status['endpoint']}/queries/{query_id(name)}", token=reader).status_code == 403
        assert harness.runtime_get(f"{status['endpoint']}/queries/{query_id(name)}", token="x.y.z").status_code == 401
        assert len(backend.claims) == calls

        # The signing key (with its newline) appears nowhere: status, API, runtime answers, Events, rows.
        wait_for(lambda: harness.database.health_history(name)[0], timeout=20, what="health rows")
        texts = {
            "status": json.dumps(harness.get(name)),
            "api plugin": harness.api("GET", f"/plugins/{name}", token=harness.auth.read_token).text,
            "api health": harness.api("GET", f"/plugins/{name}/health", token=harness.auth.read_token).text,
            "runtime health": harness.runtime_get(f"{status['endpoint']}/health").text,
            "runtime metadata": harness.runtime_get(f"{status['endpoint']}/metadata").text,
            "events": json.dumps(harness.events(name)),
            "health rows": repr(harness.database.health_history(name)[0]),
            "plugin row": repr(harness.database.get_plugin(name)),
        }
        for where, text in texts.items():
            assert not _leaks(text, key + "\n"), (where, _leaks(text, key + "\n"))
    harness.delete(name)
    wait_for(lambda: harness.get(name) is None, timeout=30, what=f"{name} to be deleted")


@pytest.mark.parametrize("value", ["line-one\r\nline-two-secret", "inner\nnewline-secret"])
def test_a_secret_with_a_line_break_inside_fails_as_invalid_spec_without_showing_it(
    harness: Harness, value: str
) -> None:
    name, secret = unique("crlf"), unique("crlf-secret")
    value = f"{value}-{uuid.uuid4().hex}"
    harness.apply(_secret(secret, {"token": value}))
    manifest = _rest_plugin(name, backend="http://127.0.0.1:9", secret=secret)
    manifest["spec"].pop("outgoingToken")
    manifest["spec"]["secretRefs"] = [{"name": "bearer_token", "secretName": secret, "key": "token"}]
    harness.apply(manifest)
    ready = wait_for(
        lambda: (c := harness.condition(name, "Ready")).get("reason") == "InvalidSpec" and c,
        timeout=30,
        what="InvalidSpec",
    )
    assert "secretRefs[bearer_token]" in ready["message"] and "line break" in ready["message"]
    everything = json.dumps(harness.get(name)) + json.dumps(harness.events(name))
    for part in value.splitlines():
        assert part not in everything
    harness.delete(name)
    wait_for(lambda: harness.get(name) is None, timeout=30, what=f"{name} to be deleted")
