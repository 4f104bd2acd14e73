"""Live calls to the plugin runtime (a real HTTP server here): health with its fallback, and translation."""

from __future__ import annotations

import datetime
import time

import httpx
import pytest

from plugin_operator import db

from . import http_stub
from .conftest import PluginFactory, Tokens, bearer, healthy_document, serve_health

# Health ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["healthy", "degraded"])
def test_live_health_is_the_runtimes_document(
    client: httpx.Client, tokens: Tokens, make_plugin: PluginFactory, runtime: http_stub.StubServer, status: str
) -> None:
    ref = make_plugin()
    serve_health(runtime, ref.plugin_id, status)
    response = client.get(f"/plugins/{ref.plugin_id}/health", headers=bearer(tokens.read))
    assert response.status_code == 200, response.text
    body = response.json()
    expected = healthy_document(ref.plugin_id, status)
    assert {key: body[key] for key in expected if key != "dependencies"} == {
        key: value for key, value in expected.items() if key != "dependencies"
    }
    assert body["dependencies"] == [
        {"name": "Prometheus API", "status": status, "response_time": "45ms", "message": None}
    ]
    assert body["stale"] is False


def test_unhealthy_plugin_is_a_503_problem_carrying_the_health_document(
    client: httpx.Client, tokens: Tokens, make_plugin: PluginFactory, runtime: http_stub.StubServer
) -> None:
    ref = make_plugin()
    serve_health(runtime, ref.plugin_id, "unhealthy")
    response = client.get(f"/plugins/{ref.plugin_id}/health", headers=bearer(tokens.read))
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["detail"] == f"Plugin '{ref.plugin_id}' health check failed"
    assert problem["title"] == "Plugin Unavailable"
    assert problem["health"]["status"] == "unhealthy" and problem["health"]["plugin_id"] == ref.plugin_id
    assert problem["health"]["dependencies"][0]["status"] == "unhealthy"


def test_unreachable_runtime_falls_back_to_the_newest_recorded_health(
    client: httpx.Client, tokens: Tokens, make_plugin: PluginFactory, database: db.Database
) -> None:
    ref = make_plugin(
        endpoint=http_stub.refused_url(),
        status={"health": {"status": "unhealthy", "checkedAt": "2020-01-01T00:00:00+00:00", "uptime": "1m"}},
    )
    checked = datetime.datetime(2026, 5, 1, 12, 0, tzinfo=datetime.UTC)
    database.record_health(
        ref.plugin_id,
        checked_at=checked,
        status="degraded",
        response_time_ms=12,
        metrics={**healthy_document(ref.plugin_id, "degraded"), "uptime": "3h"},
    )
    response = client.get(f"/plugins/{ref.plugin_id}/health", headers=bearer(tokens.read))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["stale"], body["uptime"]) == ("degraded", True, "3h")
    assert datetime.datetime.fromisoformat(body["checked_at"]) == checked


def test_fallback_uses_the_cr_status_when_it_is_newer(
    client: httpx.Client, tokens: Tokens, make_plugin: PluginFactory, database: db.Database
) -> None:
    ref = make_plugin(
        endpoint=http_stub.refused_url(),
        status={
            "health": {
                "status": "healthy",
                "checkedAt": "2026-06-01T00:00:00+00:00",
                "uptime": "9h",
                "queriesExecuted": 7,
                "dependencies": [{"name": "Prometheus API", "status": "healthy", "responseTime": "3ms"}],
            }
        },
    )
    database.record_health(
        ref.plugin_id, checked_at=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC), status="unhealthy"
    )
    body = client.get(f"/plugins/{ref.plugin_id}/health", headers=bearer(tokens.read)).json()
    assert (body["status"], body["stale"], body["uptime"], body["queries_executed"]) == ("healthy", True, "9h", 7)
    assert body["dependencies"][0]["response_time"] == "3ms"


def test_slow_runtime_does_not_hold_the_caller_beyond_the_timeout(
    client: httpx.Client,
    tokens: Tokens,
    make_plugin: PluginFactory,
    runtime: http_stub.StubServer,
    database: db.Database,
) -> None:
    ref = make_plugin(status={"health": {"status": "healthy", "checkedAt": "2026-06-01T00:00:00+00:00"}})
    serve_health(runtime, ref.plugin_id, "unhealthy", delay=3.0)
    started = time.monotonic()
    response = client.get(f"/plugins/{ref.plugin_id}/health", headers=bearer(tokens.read))
    elapsed = time.monotonic() - started
    assert response.status_code == 200 and response.json()["stale"] is True
    assert elapsed < 2.0, f"the runtime timeout is 0.5 s, the answer took {elapsed:.2f} s"


def test_nothing_known_about_health_is_a_503_unknown(
    client: httpx.Client, tokens: Tokens, make_plugin: PluginFactory
) -> None:
    ref = make_plugin(phase=None)
    response = client.get(f"/plugins/{ref.plugin_id}/health", headers=bearer(tokens.read))
    assert response.status_code == 503
    assert response.json()["health"] == {
        "status": "unknown",
        "plugin_id": ref.plugin_id,
        "version": "1.2.0",
        "uptime": None,
        "queries_executed": None,
        "error_rate": None,
        "last_error": None,
        "last_error_message": None,
        "circuit": None,
        "dependencies": [],
        "cache": None,  # not recorded: only a live document from the runtime shows its cache
        "checked_at": None,
        "stale": True,
    }


def test_a_document_for_another_plugin_is_not_trusted(
    client: httpx.Client, tokens: Tokens, make_plugin: PluginFactory, runtime: http_stub.StubServer
) -> None:
    ref = make_plugin(status={"health": {"status": "degraded", "checkedAt": "2026-06-01T00:00:00+00:00"}})
    document = healthy_document("someone-else")
    runtime.routes[f"/plugins/{ref.plugin_id}/health"] = lambda _: http_stub.Reply(200, document)
    body = client.get(f"/plugins/{ref.plugin_id}/health", headers=bearer(tokens.read)).json()
    assert (body["plugin_id"], body["status"], body["stale"]) == (ref.plugin_id, "degraded", True)


# Translation ---------------------------------------------------------------------------------------------


def _translate_path(query_id: str) -> str:
    return f"/queries/{query_id}/translate"


def test_translation_is_forwarded_to_the_runtime_with_every_option(
    client: httpx.Client, tokens: Tokens, make_plugin: PluginFactory, runtime: http_stub.StubServer
) -> None:
    ref = make_plugin()
    translation = {"language": "promql", "query": 'cpu{host="a"}', "endpoint": "/api/v1/query"}
    runtime.routes[_translate_path(ref.query_id)] = lambda _: http_stub.Reply(200, translation)
    params = {
        "query_id": ref.query_id,
        "$filter": "host eq 'a' and value gt 0.5",
        "$select": "host,value",
        "$orderby": "value desc",
        "$top": "5",
        "step": "60s",
    }
    response = client.get(f"/plugins/{ref.plugin_id}/translate", params=params, headers=bearer(tokens.read))
    assert response.status_code == 200, response.text
    assert response.json() == {"plugin_id": ref.plugin_id, "query_id": ref.query_id, **translation}
    (seen,) = runtime.calls_to(_translate_path(ref.query_id))
    assert dict(seen.query) == {key: value for key, value in params.items() if key != "query_id"}


@pytest.mark.parametrize(
    ("status", "problem"),
    [
        (400, {"title": "Invalid Query", "detail": "$filter: unknown property 'colour'", "option": "$filter"}),
        (
            501,
            {
                "title": "Not Supported By Adapter",
                "detail": "the prometheus adapter cannot translate 'or'",
                "construct": "or",
                "position": 9,
            },
        ),
    ],
)
def test_runtime_problems_are_passed_on_with_their_status_and_explanation(
    client: httpx.Client,
    tokens: Tokens,
    make_plugin: PluginFactory,
    runtime: http_stub.StubServer,
    status: int,
    problem: dict[str, object],
) -> None:
    ref = make_plugin()
    body = {"type": "https://hyperspot.io/problems/x", "status": status, "instance": "/queries/x", **problem}
    runtime.routes[_translate_path(ref.query_id)] = lambda _: http_stub.Reply(
        status, body, content_type="application/problem+json"
    )
    response = client.get(
        f"/plugins/{ref.plugin_id}/translate",
        params={"query_id": ref.query_id, "$filter": "host eq 'a' or colour eq 'b'"},
        headers=bearer(tokens.read),
    )
    assert response.status_code == status
    answered = response.json()
    assert answered["instance"] == f"/api/analytics/v1/plugins/{ref.plugin_id}/translate"
    assert {key: answered[key] for key in problem} == problem


def test_malformed_odata_is_refused_without_asking_the_runtime(
    client: httpx.Client, tokens: Tokens, make_plugin: PluginFactory, runtime: http_stub.StubServer
) -> None:
    ref = make_plugin()
    response = client.get(
        f"/plugins/{ref.plugin_id}/translate",
        params={"query_id": ref.query_id, "$filter": "host eq 'a' and"},
        headers=bearer(tokens.read),
    )
    assert response.status_code == 400
    assert response.json()["option"] == "$filter"
    assert runtime.calls_to(_translate_path(ref.query_id)) == []


@pytest.mark.parametrize(
    ("query_id", "status"),
    [
        ("gts.hypernetix.hyperspot.ax.query.v1~", 400),  # a type, not a query
        ("gts.hypernetix.hyperspot.ax.datasource.v1~hyperspot.apitest._.x.v1", 404),  # not a query it serves
        ("not-a-gts-id", 400),
        ("gts.hypernetix.hyperspot.ax.query.v1~hyperspot.apitest._.other.v1", 404),  # not this plugin's
    ],
)
def test_query_id_must_be_one_of_the_plugins_queries(
    client: httpx.Client, tokens: Tokens, make_plugin: PluginFactory, query_id: str, status: int
) -> None:
    ref = make_plugin()
    response = client.get(
        f"/plugins/{ref.plugin_id}/translate", params={"query_id": query_id}, headers=bearer(tokens.read)
    )
    assert response.status_code == status, response.text


@pytest.mark.parametrize("endpoint", [None, "refused"])
def test_no_running_runtime_is_503(
    client: httpx.Client, tokens: Tokens, make_plugin: PluginFactory, endpoint: str | None
) -> None:
    ref = make_plugin(phase="Failed", endpoint=http_stub.refused_url() if endpoint else None)
    response = client.get(
        f"/plugins/{ref.plugin_id}/translate", params={"query_id": ref.query_id}, headers=bearer(tokens.read)
    )
    assert response.status_code == 503
    assert ref.plugin_id in response.json()["detail"]
