"""Operating the product: the REST API acting through the CR, and an operator restarted mid-way."""

from __future__ import annotations

import sqlalchemy as sa

from plugin_operator.db import tables
from tests.e2e.conftest import Harness, alive, localsql_plugin, query_id, unique, wait_for


def test_api_disable_enable_reload_and_delete_act_through_the_cr(harness: Harness) -> None:
    name = unique("api")
    # admin: a reload reconfigures the running runtime in place (tests/e2e/test_plugin_permissions.py: refused without)
    harness.apply(localsql_plugin(name, permissions=["read", "write", "execute", "admin"]))
    harness.wait_phase(name, "Active")

    listed = harness.api("GET", "/plugins", token=harness.auth.read_token)
    assert listed.status_code == 200 and name in {p["id"] for p in listed.json()["items"]}
    health = harness.api("GET", f"/plugins/{name}/health", token=harness.auth.read_token)
    assert health.status_code == 200 and health.json()["status"] == "healthy"
    assert health.json()["plugin_id"] == name

    denied = harness.api("PUT", f"/plugins/{name}/disable", token=harness.auth.read_token)
    assert denied.status_code == 403 and denied.headers["content-type"].startswith("application/problem+json")

    assert harness.api("PUT", f"/plugins/{name}/disable").status_code == 200
    assert harness.get(name)["spec"]["enabled"] is False
    harness.wait_phase(name, "Inactive")
    assert harness.api("PUT", f"/plugins/{name}/enable").status_code == 200
    harness.wait_phase(name, "Active")

    assert harness.api("POST", f"/plugins/{name}/reload").status_code == 202
    wait_for(
        lambda: "Reloaded" in {e["reason"] for e in harness.events(name)},
        timeout=20,
        what="the reload to be carried out",
    )
    translated = harness.api(
        "GET",
        f"/plugins/{name}/translate?query_id={query_id(name)}&$filter=cpu_usage%20gt%2090",
        token=harness.auth.read_token,
    )
    assert translated.status_code == 200, translated.text
    assert "cpu_usage" in str(translated.json())

    gts = harness.api("GET", f"/gts/{query_id(name)}", token=harness.auth.read_token)
    assert gts.status_code == 200 and gts.json()["state"] == "active"

    assert harness.api("DELETE", f"/plugins/{name}").status_code == 202
    wait_for(lambda: harness.get(name) is None, timeout=30, what="the Plugin to be deleted")
    assert harness.api("GET", f"/gts/{query_id(name)}", token=harness.auth.read_token).json()["state"] == "deprecated"
    actions = harness.database.run(
        lambda tx: set(
            tx.connection.execute(
                sa.select(tables.audit_log.c.action).where(tables.audit_log.c.target == name)
            ).scalars()
        )
    )
    assert {"disable", "enable", "reload", "delete"} <= actions


def test_operator_restart_adopts_runtimes_and_writes_no_duplicates(harness: Harness) -> None:
    name = unique("restart")
    harness.apply(localsql_plugin(name))
    harness.wait_phase(name, "Active")
    pids = harness.runtime_pids(name)

    harness.stop_operator()
    # Changes made while the operator is down are picked up when it comes back.
    harness.patch(name, {"spec": {"enabled": False}})
    harness.start_operator()
    harness.wait_phase(name, "Inactive")
    harness.patch(name, {"spec": {"enabled": True}})
    harness.wait_phase(name, "Active")

    other = unique("restart-b")
    harness.apply(localsql_plugin(other))
    harness.wait_phase(other, "Active")
    harness.stop_operator()
    harness.start_operator()
    harness.wait_phase(other, "Active")
    status = harness.status(other)
    assert harness.query(other).status_code == 200
    assert len(harness.runtime_pids(other)) == 1, "the running runtime is adopted, not duplicated"

    def count(table: sa.Table, column: sa.Column, value: str) -> int:
        return harness.database.run(
            lambda tx: tx.connection.execute(
                sa.select(sa.func.count()).select_from(table).where(column == value)
            ).scalar_one()
        )

    assert count(tables.plugins, tables.plugins.c.id, name) == 1
    assert count(tables.plugins, tables.plugins.c.id, other) == 1
    assert count(tables.gts_entities, tables.gts_entities.c.owner_plugin_id, other) == 1
    assert status["servingVersion"] == "1.0.0" and pids


def test_a_plugin_deleted_behind_the_operators_back_does_not_block_its_successor(harness: Harness) -> None:
    name = unique("stale")
    harness.apply(localsql_plugin(name))
    harness.wait_phase(name, "Active")
    orphans = harness.runtime_pids(name)
    harness.stop_operator()
    try:
        # Deleted while no operator watched, its finalizer removed by hand: the database keeps its claim.
        harness.cluster.kubectl_ok("patch", "plugin", name, "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
        harness.cluster.kubectl_ok("delete", "plugin", name)
        assert harness.get(name) is None
    finally:
        harness.start_operator()
    # No process outlives its Plugin: the restarted operator stops the orphaned runtime.
    for pid in orphans:
        wait_for(lambda pid=pid: not alive(pid), timeout=20, what=f"orphaned runtime {pid} to stop")
    harness.apply(localsql_plugin(name))
    status = harness.wait_phase(name, "Active")
    assert harness.database.get_plugin(name).uid == harness.get(name)["metadata"]["uid"]
    assert status["registeredEntities"][0]["state"] == "active"
