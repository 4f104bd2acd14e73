"""Reading plugins and asking for changes: the CR is changed, the response says what was accepted."""

from __future__ import annotations

import datetime

import httpx
import pytest

from plugin_operator import db, kube, models

from .conftest import PluginFactory, Tokens, bearer


def _ids(response: httpx.Response) -> list[str]:
    return [item["id"] for item in response.json()["items"]]


def test_get_combines_the_cr_and_the_database(
    client: httpx.Client, tokens: Tokens, make_plugin: PluginFactory, database: db.Database
) -> None:
    ref = make_plugin(
        status={
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Active",
                    "message": "serving",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                }
            ],
            "registeredEntities": [
                {
                    "id": "gts.hypernetix.hyperspot.ax.query.v1~hyperspot.apitest._.x.v1",
                    "kind": "query",
                    "state": "active",
                }
            ],
            "health": {"status": "healthy", "checkedAt": "2026-01-01T00:00:00Z"},
        }
    )
    checked = datetime.datetime(2026, 3, 1, 8, 0, tzinfo=datetime.UTC)
    for minutes, status in ((0, "healthy"), (5, "degraded")):
        database.record_health(
            ref.plugin_id,
            checked_at=checked + datetime.timedelta(minutes=minutes),
            status=status,
            response_time_ms=40 + minutes,
            error_message="Prometheus API: degraded" if minutes else None,
        )
    response = client.get(f"/plugins/{ref.plugin_id}", headers=bearer(tokens.read))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["namespace"], body["cr_name"], body["phase"]) == (
        ref.plugin_id,
        "default",
        ref.name,
        "Active",
    )
    assert body["last_health_check"] == {
        "status": "degraded",
        "checked_at": "2026-03-01T08:05:00Z",
        "response_time_ms": 45,
        "error_message": "Prometheus API: degraded",
    }
    listed = client.get("/plugins", params={"limit": 500}, headers=bearer(tokens.read)).json()["items"]
    assert next(item for item in listed if item["id"] == ref.plugin_id) == body
    assert (body["version"], body["serving_version"], body["adapter"], body["enabled"]) == (
        "1.2.0",
        "1.2.0",
        "prometheus",
        True,
    )
    assert body["pending"] is False and body["generation"] == body["observed_generation"]
    assert body["conditions"][0]["reason"] == "Active" and body["health_status"] == "healthy"
    assert body["registered_entities"][0]["kind"] == "query"
    assert body["queries"] == [
        {"id": ref.query_id, "name": "CPU usage", "category": "monitoring", "api_endpoint": "/metrics/cpu"}
    ]
    assert body["registered_by"] == "system:test-operator"
    assert datetime.datetime.fromisoformat(body["registered_at"]) <= datetime.datetime.now(datetime.UTC)


def test_a_plugin_is_found_by_listing_when_the_operator_has_not_mirrored_it(
    client: httpx.Client, tokens: Tokens, make_plugin: PluginFactory
) -> None:
    ref = make_plugin(plugin_id=f"custom-{make_plugin().name}", mirrored=False, phase=None)
    response = client.get(f"/plugins/{ref.plugin_id}", headers=bearer(tokens.read))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["cr_name"]) == (ref.plugin_id, ref.name)
    assert body["registered_at"] is None and body["phase"] == "Unloaded" and body["pending"] is True


def test_unknown_plugin_is_a_404_problem(client: httpx.Client, tokens: Tokens) -> None:
    response = client.get("/plugins/no-such-plugin", headers=bearer(tokens.read))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["title"] == "Not Found" and "no-such-plugin" in problem["detail"]
    assert problem["instance"] == "/api/analytics/v1/plugins/no-such-plugin"


def test_two_plugins_claiming_one_id_are_a_conflict(
    client: httpx.Client, tokens: Tokens, make_plugin: PluginFactory
) -> None:
    first = make_plugin(mirrored=False)
    make_plugin(plugin_id=first.plugin_id, namespace="team-b", mirrored=False)
    response = client.get(f"/plugins/{first.plugin_id}", headers=bearer(tokens.read))
    assert response.status_code == 409
    assert "default/" in response.json()["detail"] and "team-b/" in response.json()["detail"]


def test_list_filters_and_pages(client: httpx.Client, tokens: Tokens, make_plugin: PluginFactory) -> None:
    fmt = "graphql"  # only this test's plugins use it
    refs = sorted(
        [make_plugin(contract_format=fmt, enabled=True) for _ in range(3)]
        + [make_plugin(contract_format=fmt, enabled=False, phase="Inactive")],
        key=lambda ref: ref.plugin_id,
    )
    everything = client.get("/plugins", params={"contract_format": fmt, "limit": 500}, headers=bearer(tokens.read))
    assert everything.status_code == 200
    assert _ids(everything) == [ref.plugin_id for ref in refs]
    assert everything.json()["total"] == 4

    disabled = client.get("/plugins", params={"contract_format": fmt, "enabled": "false"}, headers=bearer(tokens.read))
    assert [item["phase"] for item in disabled.json()["items"]] == ["Inactive"]
    inactive = client.get("/plugins", params={"contract_format": fmt, "phase": "Inactive"}, headers=bearer(tokens.read))
    assert _ids(inactive) == _ids(disabled)

    enabled_ids = [item["id"] for item in everything.json()["items"] if item["enabled"]]
    second_page = client.get(
        "/plugins",
        params={"contract_format": fmt, "enabled": "true", "limit": 2, "offset": 2},
        headers=bearer(tokens.read),
    ).json()
    assert (second_page["total"], second_page["limit"], second_page["offset"]) == (3, 2, 2)
    assert _ids_of(second_page) == enabled_ids[2:]


def _ids_of(page: dict[str, object]) -> list[str]:
    return [item["id"] for item in page["items"]]  # type: ignore[attr-defined, index]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 501},
        {"offset": -1},
        {"phase": "Sleeping"},
        {"contract_format": "cobol"},
        {"enabled": "maybe"},
    ],
)
def test_bad_list_parameters_are_400_problems_naming_the_field(
    client: httpx.Client, tokens: Tokens, params: dict[str, object]
) -> None:
    response = client.get("/plugins", params=params, headers=bearer(tokens.read))
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    (field,) = params
    assert [error["location"] for error in response.json()["errors"]] == [f"query.{field}"]


def test_disable_and_enable_patch_the_cr_and_report_pending(
    client: httpx.Client, tokens: Tokens, make_plugin: PluginFactory, kube_client: kube.Kube, database: db.Database
) -> None:
    ref = make_plugin()
    disabled = client.put(f"/plugins/{ref.plugin_id}/disable", headers=bearer(tokens.write))
    assert disabled.status_code == 200, disabled.text
    body = disabled.json()
    assert (body["enabled"], body["phase"], body["pending"]) == (False, "Active", True)
    assert kube_client.get_plugin("default", ref.name)["spec"]["enabled"] is False

    # The operator catches up: the phase it observed is shown and nothing is pending any more.
    current = kube_client.get_plugin("default", ref.name)
    kube_client.patch_plugin_status(
        "default", ref.name, {"phase": "Inactive", "observedGeneration": current["metadata"]["generation"]}
    )
    shown = client.get(f"/plugins/{ref.plugin_id}", headers=bearer(tokens.read)).json()
    assert (shown["enabled"], shown["phase"], shown["pending"]) == (False, "Inactive", False)

    enabled = client.put(f"/plugins/{ref.plugin_id}/enable", headers=bearer(tokens.write))
    assert enabled.status_code == 200
    assert (enabled.json()["enabled"], enabled.json()["pending"]) == (True, True)
    assert kube_client.get_plugin("default", ref.name)["spec"]["enabled"] is True

    audit, _ = database.list_audit(target=ref.plugin_id)
    assert [
        (entry.actor, entry.action, entry.outcome.value)
        for entry in reversed(audit)
        if entry.actor != "system:test-operator"
    ] == [
        ("writer", "disable", "success"),
        ("writer", "enable", "success"),
    ]


def test_reload_sets_the_reload_annotation_and_answers_202(
    client: httpx.Client, tokens: Tokens, make_plugin: PluginFactory, kube_client: kube.Kube
) -> None:
    ref = make_plugin(permissions=["read", "write", "execute", "admin"])
    before = datetime.datetime.now(datetime.UTC)
    response = client.post(f"/plugins/{ref.plugin_id}/reload", headers=bearer(tokens.write))
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert (accepted["plugin_id"], accepted["action"], accepted["status"], accepted["requested_by"]) == (
        ref.plugin_id,
        "reload",
        "accepted",
        "writer",
    )
    annotation = kube_client.get_plugin("default", ref.name)["metadata"]["annotations"][models.RELOAD_ANNOTATION]
    assert datetime.datetime.fromisoformat(annotation) == datetime.datetime.fromisoformat(accepted["requested_at"])
    assert datetime.datetime.fromisoformat(annotation) >= before
    shown = client.get(f"/plugins/{ref.plugin_id}", headers=bearer(tokens.read)).json()
    assert shown["reload_requested_at"] == annotation


@pytest.mark.parametrize(
    ("permissions", "phase", "expected"),
    [
        (None, "Active", 409),  # the default permissions lack admin: no in-place reconfiguration
        (["read", "write", "execute"], "Degraded", 409),
        (None, "Failed", 202),  # a failed rollout is retried by a reload, which needs no permission
    ],
)
def test_a_reload_needs_admin_unless_it_retries_a_failed_rollout(
    client: httpx.Client,
    tokens: Tokens,
    make_plugin: PluginFactory,
    kube_client: kube.Kube,
    database: db.Database,
    permissions: list[str] | None,
    phase: str,
    expected: int,
) -> None:
    ref = make_plugin(permissions=permissions, phase=phase)
    response = client.post(f"/plugins/{ref.plugin_id}/reload", headers=bearer(tokens.write))
    assert response.status_code == expected, response.text
    annotations = kube_client.get_plugin("default", ref.name)["metadata"].get("annotations") or {}
    assert (models.RELOAD_ANNOTATION in annotations) is (expected == 202)
    if expected == 409:
        problem = response.json()
        assert response.headers["content-type"].startswith("application/problem+json")
        assert (problem["status"], problem["title"]) == (409, "Conflict")
        assert "spec.permissions lacks admin" in problem["detail"]
        audit, _ = database.list_audit(target=ref.plugin_id, action="reload")
        assert [(entry.outcome.value, entry.detail["status"]) for entry in audit] == [("failed", 409)]


def test_delete_removes_the_cr_and_answers_202(
    client: httpx.Client, tokens: Tokens, make_plugin: PluginFactory, kube_client: kube.Kube, database: db.Database
) -> None:
    ref = make_plugin()
    response = client.delete(f"/plugins/{ref.plugin_id}", headers=bearer(tokens.admin))
    assert response.status_code == 202, response.text
    assert response.json()["action"] == "delete"
    assert all(cr["metadata"]["name"] != ref.name for cr in kube_client.list_plugins("default"))
    assert client.get(f"/plugins/{ref.plugin_id}", headers=bearer(tokens.read)).status_code == 404

    again = client.delete(f"/plugins/{ref.plugin_id}", headers=bearer(tokens.admin))
    assert again.status_code == 404
    audit, _ = database.list_audit(target=ref.plugin_id, action="delete")
    assert [(entry.outcome.value, entry.detail) for entry in audit] == [
        ("failed", {"status": 404, "error": "Not Found"}),
        ("success", {}),
    ]
