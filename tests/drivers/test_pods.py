"""What the Kubernetes driver reads from pods (`drivers.pods`, pure)."""

from __future__ import annotations

from typing import Any

import pytest

from plugin_operator.drivers import pods


def pod(
    state: dict[str, Any], *, started: bool = False, last: dict[str, Any] | None = None, **status: Any
) -> dict[str, Any]:
    container = {"name": "c", "state": state, "started": started, "restartCount": 2, "lastState": {}}
    if last:
        container["lastState"] = {"terminated": last}
    return {"metadata": {"name": "p-1"}, "status": {"containerStatuses": [container], **status}}


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        (pod({"running": {}}, started=True), True),
        (pod({"running": {}}, started=False), False),  # its startup probe has not passed
        (pod({"waiting": {"reason": "ContainerCreating"}}), False),
        ({"metadata": {"name": "p"}, "status": {"phase": "Pending"}}, False),
    ],
)
def test_started(candidate: dict[str, Any], expected: bool) -> None:
    assert pods.started(candidate) is expected


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        (pod({"waiting": {"reason": "ContainerCreating"}}), None),
        (pod({"running": {}}, started=True), None),
        (
            pod({"waiting": {"reason": "CrashLoopBackOff"}}, last={"reason": "OOMKilled", "exitCode": 137}),
            "pod p-1: CrashLoopBackOff (restarted 2 times; last: OOMKilled, exit code 137)",
        ),
        (
            pod({"waiting": {"reason": "CreateContainerConfigError", "message": 'secret "s" not found'}}),
            'pod p-1: CreateContainerConfigError: secret "s" not found',
        ),
        (pod({"waiting": {"reason": "ErrImagePull"}}), "pod p-1: ErrImagePull"),
    ],
)
def test_failure_names_what_does_not_cure_by_waiting(candidate: dict[str, Any], expected: str | None) -> None:
    assert pods.failure([candidate]) == expected


def test_isolation_missing_reads_the_dev_clusters_pod_condition() -> None:
    missing = {"type": pods.ISOLATED_CONDITION, "status": "False", "message": "network namespace"}
    complete = {"type": pods.ISOLATED_CONDITION, "status": "True"}
    assert pods.isolation_missing([pod({}, conditions=[missing])]) == "network namespace"
    assert pods.isolation_missing([pod({}, conditions=[complete])]) is None
    assert pods.isolation_missing([pod({}, conditions=[{"type": "Ready", "status": "False"}])]) is None
