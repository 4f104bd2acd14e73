"""The controllers' and kubelet's decisions (pure): rollouts, scale-down order, status, probe verdicts,
Service host names."""

from __future__ import annotations

from typing import Any

import pytest

from plugin_devcluster import podstatus, probes, serviceproxy, workloads


def deployment(replicas: int = 2, *, image: str = "img:1", history: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "uid": "d-uid", "generation": 3},
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": history,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": image}]},
            },
        },
    }


def rs(name: str, replicas: int, available: int = 0, created: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "creationTimestamp": created},
        "spec": {"replicas": replicas},
        "status": {"replicas": replicas, "readyReplicas": available, "availableReplicas": available},
    }


def test_the_replicaset_is_named_by_its_template_and_owned_by_the_deployment() -> None:
    first, same, other = (workloads.replicaset_for(d) for d in (deployment(), deployment(5), deployment(image="img:2")))
    assert first["metadata"]["name"] == same["metadata"]["name"] != other["metadata"]["name"]
    digest = first["metadata"]["labels"][workloads.HASH_LABEL]
    assert first["metadata"]["name"] == f"web-{digest}"
    assert first["spec"]["selector"]["matchLabels"] == {"app": "web", workloads.HASH_LABEL: digest}
    assert first["spec"]["template"]["metadata"]["labels"][workloads.HASH_LABEL] == digest
    assert first["metadata"]["ownerReferences"][0]["uid"] == "d-uid"


def test_a_rollout_keeps_the_old_replicaset_until_the_new_one_is_available() -> None:
    new = workloads.replicaset_for(deployment(image="img:2"))["metadata"]["name"]
    changed = deployment(image="img:2")
    assert workloads.replicaset_scales(changed, [rs("old", 2, 2), rs(new, 2, 1)]) == {new: 2, "old": 2}
    assert workloads.replicaset_scales(changed, [rs("old", 2, 2), rs(new, 2, 2)]) == {new: 2, "old": 0}


def test_old_replicasets_beyond_the_history_limit_are_deleted() -> None:
    current = deployment(history=1)
    name = workloads.replicaset_for(current)["metadata"]["name"]
    sets = [
        rs(name, 2, 2),
        rs("older", 0, created="2026-01-01T00:00:00Z"),
        rs("newer", 0, created="2026-01-02T00:00:00Z"),
    ]
    assert workloads.replicaset_scales(current, sets) == {name: 2, "newer": 0, "older": None}


def test_zero_replicas_scales_everything_to_zero() -> None:
    suspended = deployment(0)
    name = workloads.replicaset_for(suspended)["metadata"]["name"]
    assert workloads.replicaset_scales(suspended, [rs(name, 2, 2), rs("old", 1, 1)]) == {name: 0, "old": 0}


def pod(name: str, ready: bool, created: str) -> dict[str, Any]:
    condition = {"type": "Ready", "status": "True" if ready else "False"}
    return {"metadata": {"name": name, "creationTimestamp": created}, "status": {"conditions": [condition]}}


def test_scale_down_removes_not_ready_then_newest_pods_first() -> None:
    pods = [pod("old-ready", True, "1"), pod("new-ready", True, "3"), pod("not-ready", False, "2")]
    assert workloads.pods_to_delete({"spec": {"replicas": 1}}, pods) == ["not-ready", "new-ready"]
    assert workloads.pods_to_delete({"spec": {"replicas": 3}}, pods) == []


def test_deployment_status_sums_its_replicasets_and_keeps_transition_times() -> None:
    current = deployment(2)
    name = workloads.replicaset_for(current)["metadata"]["name"]
    status = workloads.deployment_status(current, [rs(name, 2, 1)], now="t1")
    assert (status["replicas"], status["availableReplicas"], status["updatedReplicas"]) == (2, 1, 2)
    assert {c["type"]: c["status"] for c in status["conditions"]} == {"Available": "False", "Progressing": "True"}
    current["status"] = status
    later = workloads.deployment_status(current, [rs(name, 2, 1)], now="t2")
    assert later == status  # nothing changed: nothing to write
    done = workloads.deployment_status(current, [rs(name, 2, 2)], now="t3")
    available = next(c for c in done["conditions"] if c["type"] == "Available")
    assert (available["status"], available["lastTransitionTime"]) == ("True", "t3")


def test_a_probe_fails_after_its_threshold_and_recovers_after_its_success_threshold() -> None:
    tracker = probes.Tracker(probes.Probe("liveness", "/", period=10, failure_threshold=2, initial_delay=5), 0.0)
    assert not tracker.due(4.9) and tracker.due(5.0)
    assert tracker.record(False, 5) is probes.Verdict.PENDING
    assert not tracker.due(14.9) and tracker.due(15)
    assert tracker.record(True, 15) is probes.Verdict.SUCCEEDED
    assert tracker.record(False, 25) is probes.Verdict.PENDING
    assert tracker.record(False, 35) is probes.Verdict.FAILED


def test_probe_defaults_follow_kubernetes() -> None:
    probe = probes.Probe.from_container({"livenessProbe": {"httpGet": {"path": "/h", "port": 80}}}, "liveness")
    assert probe == probes.Probe("liveness", "/h", 0.0, 10.0, 1.0, 1, 3)
    assert probes.Probe.from_container({}, "readiness") is None
    with pytest.raises(ValueError, match="only httpGet"):
        probes.Probe.from_container({"readinessProbe": {"exec": {"command": ["true"]}}}, "readiness")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("web.default.svc", ("web", "default")),
        ("web.default.svc:80", ("web", "default")),
        ("web.default.svc.cluster.local:8080", ("web", "default")),
        ("WEB.Default.SVC", ("web", "default")),
        ("example.com", None),
        ("web.default", None),
        ("127.0.0.1:8000", None),
        (".default.svc", None),
    ],
)
def test_service_host_names(host: str, expected: tuple[str, str] | None) -> None:
    assert serviceproxy.service_of(host) == expected


def test_pod_status_reports_the_container_and_the_missing_isolation() -> None:
    observed = podstatus.Observed("c", "img", "t0", running_since="t1", started=True, ready=True, restart_count=2)
    observed.last_terminated = {"reason": "OOMKilled", "exitCode": 137}
    observed.missing_isolation = ("network namespace",)
    status = podstatus.status(observed, previous={}, now="t2")
    [container] = status["containerStatuses"]
    assert status["phase"] == "Running" and container["state"] == {"running": {"startedAt": "t1"}}
    assert container["restartCount"] == 2 and container["lastState"]["terminated"]["reason"] == "OOMKilled"
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == "True"
    isolated = conditions[podstatus.ISOLATED]
    assert isolated["status"] == "False" and isolated["message"].endswith("network namespace")
