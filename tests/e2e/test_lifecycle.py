"""Plugin lifecycle through kubectl, as an admin drives it: create, disable, enable, update, delete."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from plugin_operator.runtime_probes import RuntimeProbes
from tests.e2e.conftest import Harness, alive, localsql_plugin, query_id, unique, wait_for


def _entity(harness: Harness, entity_id: str):
    return harness.database.run(
        lambda tx: __import__("plugin_operator.db", fromlist=["entities"]).entities.get(tx, entity_id)
    )


def test_create_goes_active_registers_entities_and_serves_queries(harness: Harness) -> None:
    name = unique("create")
    manifest = localsql_plugin(name)
    datasource = f"gts.hypernetix.hyperspot.ax.datasource.v1~hyperspot.e2e.{name.replace('-', '_')}.busy.v1"
    manifest["spec"]["autoRegister"] = {"queries": True, "datasources": True}
    manifest["spec"]["datasources"] = [
        {"id": datasource, "queryId": query_id(name), "name": "Busy", "params": {"$filter": "cpu_usage gt 80"}}
    ]
    harness.apply(manifest)

    status = harness.wait_phase(name, "Active")
    assert status["servingVersion"] == "1.0.0"
    assert status["observedGeneration"] == 1
    # Isolated appears only where the cluster's container runtime cannot isolate (never silently).
    missing = harness.isolation_missing()
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Ready": "True",
        "RuntimeReady": "True",
        "BackendHealthy": "True",
        "Registered": "True",
        "Progressing": "False",
        **({"Isolated": "False"} if missing else {}),
    }
    if missing:
        assert all(m in harness.condition(name, "Isolated")["message"] for m in missing)
        wait_for(
            lambda: "IsolationIncomplete" in {e["reason"] for e in harness.events(name) if e["type"] == "Warning"},
            timeout=10,
            what="the IsolationIncomplete Warning Event",
        )
    assert {e["id"] for e in status["registeredEntities"]} == {query_id(name), datasource}

    # PostgreSQL holds the same registrations and the plugins row mirrors the CR (written right after
    # the CR's status, so a reader that saw Active on the CR may be a moment early).
    record = wait_for(
        lambda: (r := harness.database.get_plugin(name)) is not None and r.phase == "Active" and r,
        timeout=15,
        what="the plugins row to mirror Active",
    )
    assert record.version == "1.0.0" and record.enabled
    query_row = _entity(harness, query_id(name))
    assert (query_row.owner_plugin_id, query_row.state, query_row.owner_version) == (name, "active", "1.0.0")
    assert query_row.body["adapter_id"] == name and query_row.body["contract_format"] == "custom"
    assert _entity(harness, datasource).body["query_id"] == query_id(name)

    # The runtime answers OData over the query's id and its own api_endpoint.
    response = harness.query(name, params={"$filter": "cpu_usage gt 80", "$count": "true", "$top": "3"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["@odata.count"] > 3 and len(body["value"]) == 3
    assert all(row["cpu_usage"] > 80 for row in body["value"])
    own = harness.runtime_get(f"{status['endpoint']}/e2e/{name}", params={"$top": "1"})
    assert own.status_code == 200 and len(own.json()["value"]) == 1

    # The runtime process gets what it needs, not the operator's environment (kubeconfig, database...).
    (pid,) = harness.runtime_pids(name)
    environ = dict(item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in item)
    assert "PLUGIN_RUNTIME_ADMIN_TOKEN" in environ and "PATH" in environ
    assert "KUBECONFIG" not in environ and not any(key.startswith("PLUGIN_OPERATOR_") for key in environ)

    # kubectl shows it with the printer columns, and Events tell the transitions.
    table = harness.cluster.kubectl_ok("get", "plugins")
    row = next(line for line in table.splitlines() if line.startswith(name))
    assert row.split()[1:5] == ["Active", "healthy", "1.0.0", "true"]
    reasons = [e["reason"] for e in harness.events(name)]
    assert {"Load", "Init", "Enable"} <= set(reasons)


def test_disable_refuses_new_queries_then_enable_serves_again(harness: Harness) -> None:
    name = unique("toggle")
    harness.apply(localsql_plugin(name))
    status = harness.wait_phase(name, "Active")
    endpoint = status["endpoint"]

    harness.patch(name, {"spec": {"enabled": False}})
    harness.wait_phase(name, "Inactive")
    refused = harness.runtime_get(f"{endpoint}/queries/{query_id(name)}")
    assert refused.status_code == 503, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "disabled" in refused.json()["detail"]
    ready = harness.condition(name, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "Disabled")
    # After the drain period the runtime is stopped (scaled to zero).
    wait_for(lambda: not harness.runtime_pids(name), timeout=15, what="the runtime to stop after draining")
    assert harness.database.get_plugin(name).enabled is False

    harness.patch(name, {"spec": {"enabled": True}})
    harness.wait_phase(name, "Active")
    assert harness.query(name).status_code == 200
    assert harness.condition(name, "Ready")["status"] == "True"


def test_version_update_is_health_gated_and_moves_ownership(harness: Harness) -> None:
    name = unique("update")
    harness.apply(localsql_plugin(name, version="1.0.0"))
    first = harness.wait_phase(name, "Active")
    old_pids = harness.runtime_pids(name)

    harness.patch(name, {"spec": {"version": "1.1.0"}})
    status = wait_for(
        lambda: (s := harness.status(name)).get("servingVersion") == "1.1.0" and s,
        timeout=40,
        what="version 1.1.0 to serve",
    )
    assert status["phase"] == "Active"
    assert status["endpoint"] != first["endpoint"]
    progressing = harness.condition(name, "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", "RolloutComplete")
    assert _entity(harness, query_id(name)).owner_version == "1.1.0"
    assert harness.query(name).status_code == 200
    # The old runtime drains and stops.
    wait_for(lambda: not set(old_pids) & set(harness.runtime_pids(name)), timeout=15, what="the old runtime to stop")
    assert {"RolloutStarted", "Promoted"} <= {e["reason"] for e in harness.events(name)}


def test_failed_update_rolls_back_automatically(harness: Harness) -> None:
    name = unique("rollback")
    harness.apply(localsql_plugin(name, version="1.0.0"))
    harness.wait_phase(name, "Active")

    # 2.0.0 carries a setting the adapter does not know: its init fails.
    harness.patch(name, {"spec": {"version": "2.0.0", "config": {"table": "server_metrics", "colour": "blue"}}})
    progressing = wait_for(
        lambda: (
            (c := harness.condition(name, "Progressing")).get("status") == "False"
            and c.get("reason") not in ("Complete", "RolloutComplete")
            and c
        ),
        timeout=40,
        what="the rollout of 2.0.0 to fail",
    )
    assert progressing["reason"] == "InitFailed"
    assert "colour" in progressing["message"], progressing
    status = harness.status(name)
    assert status["servingVersion"] == "1.0.0"
    assert status["failedVersion"] == "2.0.0"
    assert status["phase"] == "Active"
    assert status["lastError"]["reason"] == progressing["reason"]
    assert harness.query(name).status_code == 200
    assert _entity(harness, query_id(name)).owner_version == "1.0.0"
    assert "RolloutFailed" in {e["reason"] for e in harness.events(name)}

    # Not retried on its own; a reload request retries it (and it fails the same way).
    def failures() -> int:
        return sum(e.get("count", 1) for e in harness.events(name) if e["reason"] == "RolloutFailed")

    before = failures()
    harness.cluster.kubectl_ok(
        "annotate", "--overwrite", "plugin", name, "analytics.hyperspot.io/reload-requested-at=retry-1"
    )
    wait_for(lambda: failures() > before, timeout=40, what="the reload to retry the failed rollout")
    assert harness.status(name)["servingVersion"] == "1.0.0"

    # Fixing the spec (same version, good config) rolls out for real.
    harness.patch(name, {"spec": {"config": {"table": "server_metrics", "colour": None}}})
    wait_for(lambda: harness.status(name).get("servingVersion") == "2.0.0", timeout=40, what="2.0.0 to serve")
    assert harness.status(name).get("failedVersion") is None


def test_delete_deprecates_entities_and_stops_the_runtime(harness: Harness) -> None:
    name = unique("delete")
    harness.apply(localsql_plugin(name))
    harness.wait_phase(name, "Active")
    pids = harness.runtime_pids(name)
    assert pids

    harness.delete(name)
    wait_for(lambda: harness.get(name) is None, timeout=60, what="the Plugin to be gone (finalizer done)")
    assert _entity(harness, query_id(name)).state == "deprecated"
    assert harness.database.get_plugin(name).removed_at is not None
    # The pods go with their Deployment (garbage-collected, then stopped by the kubelet).
    wait_for(lambda: not harness.runtime_pids(name), timeout=10, what="the pods to stop")
    for pid in pids:
        wait_for(lambda pid=pid: not alive(pid), timeout=10, what=f"runtime process {pid} to exit")


def test_delete_while_a_health_probe_hangs_finishes_promptly(harness: Harness) -> None:
    """A frozen runtime keeps the health timer busy when the delete arrives; kopf must not park the
    finalizer for its default 60 s timer-cancellation poll."""
    name = unique("delete-hung")
    harness.apply(localsql_plugin(name))
    harness.wait_phase(name, "Active")
    (pid,) = harness.runtime_pids(name)

    os.kill(pid, signal.SIGSTOP)  # accepts connections, never answers: the next probe hangs
    try:
        time.sleep(1.5)  # past the 1 s health interval: a probe is in flight
        harness.delete(name)
        wait_for(lambda: harness.get(name) is None, timeout=30, what="the Plugin to be gone")
    finally:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not alive(pid), timeout=10, what=f"runtime process {pid} to exit")
    # kopf re-ran the delete handler while the timer stopped: the removal is still recorded once.
    assert [e["reason"] for e in harness.events(name)].count("Removed") == 1
    _, removals = harness.database.list_audit(target=name, action="plugin.remove")
    assert removals == 1, harness.database.list_audit(target=name)


def test_runtime_killed_degrades_then_recovers(harness: Harness) -> None:
    name = unique("crash")
    harness.apply(localsql_plugin(name))
    harness.wait_phase(name, "Active")
    (pid,) = harness.runtime_pids(name)

    os.kill(pid, signal.SIGKILL)
    # The monitor notices, restarts the runtime (a Warning Event says so) and the plugin serves again.
    wait_for(
        lambda: "RuntimeRestarted" in {e["reason"] for e in harness.events(name)},
        timeout=30,
        what="a RuntimeRestarted event",
    )
    harness.wait_phase(name, "Active")
    new_pids = harness.runtime_pids(name)
    assert new_pids and pid not in new_pids
    assert wait_for(lambda: harness.query(name).status_code == 200, timeout=10, what="queries to work again")


def test_a_runtime_that_keeps_dying_is_degraded_during_backoff_then_recovers(harness: Harness) -> None:
    name = unique("crashloop")
    harness.apply(localsql_plugin(name))
    harness.wait_phase(name, "Active")
    (pid,) = harness.runtime_pids(name)
    os.kill(pid, signal.SIGKILL)
    restarted = wait_for(lambda: (p := harness.runtime_pids(name)) and p != [pid] and p, what="the first restart")
    # Killed again right away: the restart backs off (2 s), and meanwhile the plugin serves nothing.
    os.kill(restarted[0], signal.SIGKILL)
    degraded = harness.wait_phase(name, "Degraded", timeout=20)
    runtime = next(c for c in degraded["conditions"] if c["type"] == "RuntimeReady")
    # Killed while starting (RuntimeFailed) or after (RuntimeRestarting: backing off): either way, down.
    assert runtime["status"] == "False" and runtime["reason"] in ("RuntimeRestarting", "RuntimeFailed")
    harness.wait_phase(name, "Active", timeout=30)
    assert harness.condition(name, "RuntimeReady")["status"] == "True"
    assert harness.query(name).status_code == 200


@pytest.fixture
def quick_liveness(harness: Harness) -> Iterator[RuntimeProbes]:
    """The operator restarted with a 2 s × 2 liveness probe (PLUGIN_OPERATOR_RUNTIME_LIVENESS_*) for one
    test, not the session: on a busy 2-core machine a runtime that is only slow (the hostile plugin's
    throttled CPU burner) would be restarted by it. The module's earlier Plugins are deleted first (they
    would roll to the new probes and back for nothing), the test's own before the settings go back."""
    harness.delete_all_plugins()
    probes = RuntimeProbes(liveness_period_seconds=2, liveness_failure_threshold=2)
    with harness.reconfigured(runtime_probes=probes):
        yield probes
        harness.delete_all_plugins()


def test_a_hung_runtime_is_killed_once_it_is_replaced(harness: Harness, quick_liveness: RuntimeProbes) -> None:
    name = unique("hung")
    harness.apply(localsql_plugin(name))
    harness.wait_phase(name, "Active")
    (pid,) = harness.runtime_pids(name)
    # The operator's setting, rendered into the pod template the kubelet runs (one instance: one Deployment).
    [deployment] = harness.cluster.kubectl_json(
        "get", "deployments", "-n", "default", "-l", f"app.kubernetes.io/instance={name}"
    )["items"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    liveness = container["livenessProbe"]
    assert (liveness["periodSeconds"], liveness["failureThreshold"]) == (
        quick_liveness.liveness_period_seconds,
        quick_liveness.liveness_failure_threshold,
    )

    os.kill(pid, signal.SIGSTOP)  # alive, holding its port, never answering
    try:
        # The kubelet's liveness probe (2 × 2 s, as configured) fails, the pod's 15 s grace passes, then a
        # new container starts and passes its startup probe.
        wait_for(lambda: (p := harness.runtime_pids(name)) and pid not in p, timeout=90, what="a replacement runtime")
        wait_for(lambda: not alive(pid), timeout=20, what=f"the hung runtime {pid} to be killed")
    finally:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    harness.wait_phase(name, "Active")

    def answers() -> bool:
        try:
            return harness.query(name).status_code == 200
        except httpx.HTTPError:
            return False  # the status may still name the hung runtime's endpoint for a moment

    assert wait_for(answers, timeout=20, what="queries to work again")
