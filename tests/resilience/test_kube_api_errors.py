"""The Kubernetes API answers 409 and 5xx for a while: the operator retries and the Plugin converges."""

from __future__ import annotations

from tests.e2e.conftest import localsql_plugin, query_id, unique

from .conftest import ResilienceHarness
from .kube_faults import KOPF, OPERATOR_CLIENT, Fault


def test_conflicts_and_server_errors_on_patches_are_retried(harness: ResilienceHarness) -> None:
    name = unique("kube-errors")
    status_path = rf"/plugins/{name}/status$"
    faults = harness.kube_faults
    conflicts = faults.inject(Fault("PATCH", status_path, 409, times=2, user_agent=OPERATOR_CLIENT))
    server_error = faults.inject(Fault("PATCH", status_path, 500, times=1, user_agent=OPERATOR_CLIENT))
    kopf_errors = faults.inject(Fault("PATCH", rf"/plugins/{name}$", 503, times=2, user_agent=KOPF))

    harness.apply(localsql_plugin(name))

    status = harness.wait_phase(name, "Active", timeout=45)
    assert (conflicts.served, server_error.served, kopf_errors.served) == (2, 1, 2), "every injected error was hit"
    answered = [s.status for s in faults.seen("PATCH", status_path, user_agent=OPERATOR_CLIENT)]
    assert answered[:3] == [409, 409, 500] and 200 in answered[3:], answered
    assert status["servingVersion"] == "1.0.0" and harness.condition(name, "Ready")["status"] == "True"
    assert harness.query(name).status_code == 200
    # Each retry re-ran the whole reconcile: it adopted the runtime and the rows it had made.
    assert len(harness.runtime_pids(name)) == 1
    assert harness.rows_of(name, query_id(name)) == (1, 1)
