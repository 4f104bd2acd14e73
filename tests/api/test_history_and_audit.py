"""A plugin's recorded health history (read role) and the audit log (admin only), over the real database.

Probes are recorded the way the operator records them (`mirror.record_probe`), so what the history
shows is what the health monitor stores; audit entries come from real management calls.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import httpx
import pytest

from plugin_operator import db, kube, mirror
from plugin_operator.runtime_client import ProbeResult
from plugin_runtime import errors

from .conftest import PluginFactory, Tokens, bearer, healthy_document

T0 = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)


def _is_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status and problem["type"].startswith(errors.PROBLEM_BASE)
    return problem


def _probe(database: db.Database, plugin_id: str, minute: int, status: str, **document: Any) -> None:
    body = {**healthy_document(plugin_id, status), **document}
    error = None if status == "healthy" else "Prometheus API: unhealthy"
    result = ProbeResult(True, status, 10 + minute, document=body, error=error)
    mirror.record_probe(database, plugin_id, T0 + datetime.timedelta(minutes=minute), result)


def test_health_history_is_newest_first_with_the_stored_figures(
    client: httpx.Client, tokens: Tokens, make_plugin: PluginFactory, database: db.Database
) -> None:
    ref = make_plugin()
    _probe(database, ref.plugin_id, 0, "healthy")
    _probe(database, ref.plugin_id, 1, "unhealthy")
    _probe(database, ref.plugin_id, 2, "degraded", queries_executed=99)

    response = client.get(f"/plugins/{ref.plugin_id}/health/history", headers=bearer(tokens.read))

    assert response.status_code == 200, response.text
    page = response.json()
    assert (page["plugin_id"], page["total"], page["limit"], page["offset"]) == (ref.plugin_id, 3, 50, 0)
    assert [(item["status"], item["checked_at"]) for item in page["items"]] == [
        ("degraded", "2026-03-01T12:02:00Z"),
        ("unhealthy", "2026-03-01T12:01:00Z"),
        ("healthy", "2026-03-01T12:00:00Z"),
    ]
    newest = page["items"][0]
    assert (newest["response_time_ms"], newest["error_message"]) == (12, "Prometheus API: unhealthy")
    stored, _ = database.health_history(ref.plugin_id, limit=1)
    assert newest["metrics"] == stored[0].metrics
    assert newest["metrics"] == {
        "queries_executed": 99,
        "error_rate": 0.02,
        "uptime": "72h15m",
        "circuit": "closed",
        "dependencies": [{"name": "Prometheus API", "status": "degraded", "response_time": "45ms"}],
    }


def test_health_history_pages_and_filters_by_time(
    client: httpx.Client, tokens: Tokens, make_plugin: PluginFactory, database: db.Database
) -> None:
    ref = make_plugin()
    for minute in range(5):
        _probe(database, ref.plugin_id, minute, "healthy")
    url = f"/plugins/{ref.plugin_id}/health/history"

    def checked(**params: Any) -> tuple[list[str], int]:
        response = client.get(url, params=params, headers=bearer(tokens.read))
        assert response.status_code == 200, response.text
        return [item["checked_at"][11:16] for item in response.json()["items"]], response.json()["total"]

    assert checked(limit=2) == (["12:04", "12:03"], 5)
    assert checked(limit=2, offset=2) == (["12:02", "12:01"], 5)
    assert checked(offset=5) == ([], 5)
    # 14:03 at +02:00 is 12:03 UTC: the offset is honoured, and `since` is inclusive.
    assert checked(since="2026-03-01T14:03:00+02:00") == (["12:04", "12:03"], 2)


def test_no_secret_reaches_the_health_history(
    client: httpx.Client, tokens: Tokens, make_plugin: PluginFactory, database: db.Database
) -> None:
    ref = make_plugin()
    planted = f"planted-{uuid.uuid4().hex}"
    leaky = {"name": "Prometheus API", "status": "unhealthy", "message": f"unreachable: http://u:{planted}@prom:9090"}
    _probe(database, ref.plugin_id, 0, "unhealthy", dependencies=[leaky], api_token=planted)
    (row,), _ = database.health_history(ref.plugin_id)
    assert planted in repr(row.metrics)  # a careless plugin's message really is stored...

    response = client.get(f"/plugins/{ref.plugin_id}/health/history", headers=bearer(tokens.read))

    assert response.status_code == 200, response.text
    assert planted not in response.text  # ...and masked on the way out
    assert response.json()["items"][0]["metrics"]["dependencies"][0]["message"] == "********"
    assert "api_token" not in row.metrics  # only the document's figures are recorded


def test_health_history_of_unknown_removed_and_unmirrored_plugins(
    client: httpx.Client, tokens: Tokens, make_plugin: PluginFactory, database: db.Database, kube_client: kube.Kube
) -> None:
    problem = _is_problem(client.get("/plugins/no-such-plugin/health/history", headers=bearer(tokens.read)), 404)
    assert "no-such-plugin" in problem["detail"]

    fresh = make_plugin(mirrored=False)  # a Plugin the operator has not mirrored yet: exists, no history
    response = client.get(f"/plugins/{fresh.plugin_id}/health/history", headers=bearer(tokens.read))
    assert response.status_code == 200, response.text
    assert (response.json()["items"], response.json()["total"]) == ([], 0)

    gone = make_plugin()
    _probe(database, gone.plugin_id, 0, "healthy")
    kube_client.delete_plugin(gone.namespace, gone.name)
    database.mark_plugin_removed(gone.plugin_id, actor="system:test-operator")
    response = client.get(f"/plugins/{gone.plugin_id}/health/history", headers=bearer(tokens.read))
    assert response.status_code == 200, response.text  # the history outlives the Plugin, like its row
    assert response.json()["total"] == 1


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=501", "limit=ten", "offset=-1", "since=yesterday", "since=2026-03-01T12:00:00", "order=asc"],
)
def test_bad_history_parameters_are_400(
    client: httpx.Client, tokens: Tokens, make_plugin: PluginFactory, query: str
) -> None:
    ref = make_plugin()
    problem = _is_problem(
        client.get(f"/plugins/{ref.plugin_id}/health/history?{query}", headers=bearer(tokens.read)), 400
    )
    assert query.split("=")[0] in problem["detail"] + str(problem.get("errors"))


def _audited_actions(client: httpx.Client, tokens: Tokens, plugin_id: str) -> None:
    """disable (writer: success), enable (reader: denied), enable (writer: success)."""
    assert client.put(f"/plugins/{plugin_id}/disable", headers=bearer(tokens.write)).status_code == 200
    assert client.put(f"/plugins/{plugin_id}/enable", headers=bearer(tokens.read)).status_code == 403
    assert client.put(f"/plugins/{plugin_id}/enable", headers=bearer(tokens.write)).status_code == 200


def test_the_audit_log_lists_actions_newest_first_with_filters(
    client: httpx.Client, tokens: Tokens, make_plugin: PluginFactory
) -> None:
    ref = make_plugin()
    _audited_actions(client, tokens, ref.plugin_id)

    def listed(**params: Any) -> tuple[list[tuple[str, str, str]], int]:
        response = client.get("/audit", params={"target": ref.plugin_id, **params}, headers=bearer(tokens.admin))
        assert response.status_code == 200, response.text
        page = response.json()
        assert all(item["target"] == ref.plugin_id for item in page["items"])
        return [(item["action"], item["actor"], item["outcome"]) for item in page["items"]], page["total"]

    everything = [
        ("enable", "writer", "success"),
        ("enable", "reader", "denied"),
        ("disable", "writer", "success"),
        ("plugin.create", "system:test-operator", "success"),
    ]
    assert listed() == (everything, 4)
    assert listed(limit=2, offset=1) == (everything[1:3], 4)
    assert listed(actor="reader") == ([everything[1]], 1)
    assert listed(outcome="denied") == ([everything[1]], 1)
    assert listed(action="enable", actor="writer") == ([everything[0]], 1)
    assert listed(since="2999-01-01T00:00:00Z") == ([], 0)

    response = client.get("/audit", params={"target": ref.plugin_id, "outcome": "denied"}, headers=bearer(tokens.admin))
    (denied,) = response.json()["items"]
    assert denied["detail"] == {"required_role": "analytics:plugins:write"}
    since = datetime.datetime.fromisoformat(denied["at"])
    assert listed(since=since.isoformat())[0] == everything[:2]


def test_the_audit_log_is_for_admins_only(client: httpx.Client, tokens: Tokens) -> None:
    for token in (tokens.read, tokens.write):
        _is_problem(client.get("/audit", headers=bearer(token)), 403)
    _is_problem(client.get("/audit"), 401)


@pytest.mark.parametrize(
    "query",
    [
        "outcome=maybe",
        "limit=0",
        "limit=501",
        "offset=-1",
        "since=2026-03-01T12:00:00",
        "since=0001-01-01T00:00:00%2B14:00",  # before the first instant a datetime holds, once in UTC
        "actor=" + "a" * 256,
    ],
)
def test_bad_audit_parameters_are_400(client: httpx.Client, tokens: Tokens, query: str) -> None:
    problem = _is_problem(client.get(f"/audit?{query}", headers=bearer(tokens.admin)), 400)
    assert query.split("=")[0] in problem["detail"] + str(problem.get("errors"))
