"""The operator dies between starting a runtime and writing the status: its successor adopts, never doubles."""

from __future__ import annotations

from plugin_operator import naming
from tests.e2e.conftest import localsql_plugin, query_id, unique, wait_for

from .conftest import ResilienceHarness
from .kube_faults import OPERATOR_CLIENT, Fault


def test_a_new_operator_adopts_what_a_stopped_one_left_half_done(harness: ResilienceHarness) -> None:
    name = unique("killed")
    status_path = rf"/plugins/{name}/status$"
    # Every status write of this Plugin fails: the reconcile gets as far as it can, and no further.
    blocked = harness.kube_faults.inject(Fault("PATCH", status_path, 500, times=10_000, user_agent=OPERATOR_CLIENT))
    harness.apply(localsql_plugin(name))
    wait_for(lambda: blocked.served >= 1, timeout=30, what="the reconcile to reach its status write")

    harness.stop_operator()
    harness.kube_faults.clear()
    # Left behind: a Deployment whose pod runs (its first status write, Loaded, failed: nothing
    # registered yet) and a status that knows nothing of it.
    (pid,) = wait_for(lambda: harness.runtime_pids(name), timeout=30, what="the left-behind pod's runtime")
    deployments = _deployments(harness, name)
    assert len(deployments) == 1, deployments
    assert harness.rows_of(name, query_id(name)) == (1, 0)
    assert not harness.status(name).get("servingVersion")

    harness.start_operator()

    status = harness.wait_phase(name, "Active", timeout=40)
    assert status["servingVersion"] == "1.0.0" and status["observedGeneration"] == 1
    assert harness.runtime_pids(name) == [pid], "the running runtime is adopted, not started twice"
    assert _deployments(harness, name) == deployments, "the Deployment is adopted, not made again"
    assert harness.rows_of(name, query_id(name)) == (1, 1)
    # It serves from the adopted instance (its own Service), behind the plugin's stable Service.
    ((deployment, _),) = deployments
    assert status["endpoint"] == f"http://{deployment}.default.svc:{naming.SERVICE_PORT}"
    assert status["serviceEndpoint"] == naming.service_url(name, "default")
    assert harness.query(name).status_code == 200


def _deployments(harness: ResilienceHarness, name: str) -> list[tuple[str, str]]:
    """(name, uid) of the Deployments of Plugin `name` (named `<name>-<version>…`)."""
    items = harness.cluster.kubectl_json("get", "deployments", "-n", "default")["items"]
    return [
        (d["metadata"]["name"], d["metadata"]["uid"]) for d in items if d["metadata"]["name"].startswith(f"{name}-")
    ]
