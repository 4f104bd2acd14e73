"""The operator dies between starting a runtime and writing the status: its successor adopts, never doubles."""

from __future__ import annotations

import json

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
    # Left behind: a running runtime (its first status write, Loaded, failed: nothing registered yet)
    # and a status that knows nothing of it.
    (pid,) = harness.runtime_processes(name)
    assert harness.runtime_pids(name) == [pid]
    assert harness.rows_of(name, query_id(name)) == (1, 0)
    assert not harness.status(name).get("servingVersion")

    harness.start_operator()

    status = harness.wait_phase(name, "Active", timeout=40)
    assert status["servingVersion"] == "1.0.0" and status["observedGeneration"] == 1
    assert harness.runtime_processes(name) == [pid], "the running runtime is adopted, not started twice"
    assert harness.runtime_pids(name) == [pid]
    assert harness.rows_of(name, query_id(name)) == (1, 1)
    assert status["endpoint"].endswith(f":{_port_of(harness, name)}")
    assert harness.query(name).status_code == 200


def _port_of(harness: ResilienceHarness, name: str) -> int:
    (record,) = (harness.settings.state_dir / "runtimes" / f"default.{name}").glob("*/process.json")
    return int(json.loads(record.read_text())["port"])
