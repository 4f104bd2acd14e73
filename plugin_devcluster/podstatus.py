"""A pod's status and Events as the kubelet reports them (pure): phase, conditions, containerStatuses.

`Observed` is what the kubelet knows about its one container; `status()` turns it into the object
`kubectl get pods` / `describe pod` read. The Isolated condition (`ISOLATED`) says whether the
container runtime applied every isolation mechanism; the operator surfaces it on the Plugin.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

__all__ = ["ISOLATED", "Observed", "event", "status"]

#: Pod condition: False (with the missing mechanisms as message) when the runtime could not isolate.
ISOLATED = "devcluster.hyperspot.io/Isolated"


@dataclasses.dataclass
class Observed:
    container: str
    image: str
    started_at: str  # when the kubelet took the pod
    running_since: str | None = None
    started: bool = False  # the startup probe passed (or there is none)
    ready: bool = False
    restart_count: int = 0
    waiting_reason: str | None = "ContainerCreating"
    waiting_message: str | None = None
    last_terminated: dict[str, Any] | None = None
    missing_isolation: tuple[str, ...] = ()


def _condition(
    kind: str, ok: bool, now: str, *, reason: str | None = None, message: str | None = None
) -> dict[str, Any]:
    condition: dict[str, Any] = {"type": kind, "status": "True" if ok else "False", "lastTransitionTime": now}
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def status(observed: Observed, *, previous: dict[str, Any], now: str) -> dict[str, Any]:
    """The pod's status; condition transition times are kept from `previous` while their status holds."""
    running = observed.running_since is not None
    state: dict[str, Any]
    if running:
        state = {"running": {"startedAt": observed.running_since}}
    else:
        state = {"waiting": {"reason": observed.waiting_reason or "ContainerCreating"}}
        if observed.waiting_message:
            state["waiting"]["message"] = observed.waiting_message
    container: dict[str, Any] = {
        "name": observed.container,
        "image": observed.image,
        "imageID": "",
        "ready": observed.ready,
        "started": observed.started,
        "restartCount": observed.restart_count,
        "state": state,
        "lastState": {"terminated": observed.last_terminated} if observed.last_terminated else {},
    }
    not_ready = None if observed.ready else "ContainersNotReady"
    conditions = [
        _condition("PodScheduled", True, now),
        _condition("Initialized", True, now),
        _condition("ContainersReady", observed.ready, now, reason=not_ready),
        _condition("Ready", observed.ready, now, reason=not_ready),
        _condition(
            ISOLATED,
            not observed.missing_isolation,
            now,
            reason="IsolationIncomplete" if observed.missing_isolation else "Isolated",
            message=(
                "the container runtime could not apply: " + ", ".join(observed.missing_isolation)
                if observed.missing_isolation
                else None
            ),
        ),
    ]
    before = {c["type"]: c for c in previous.get("conditions") or []}
    for condition in conditions:
        old = before.get(condition["type"])
        if old is not None and old["status"] == condition["status"]:
            condition["lastTransitionTime"] = old.get("lastTransitionTime", now)
    return {
        "phase": "Running" if running else "Pending",
        "hostIP": "127.0.0.1",
        "startTime": observed.started_at,
        "conditions": conditions,
        "containerStatuses": [container],
    }


def event(pod: dict[str, Any], *, kind: str, reason: str, message: str, container: str, now: str) -> dict[str, Any]:
    """A core/v1 Event about `pod` from the kubelet."""
    meta = pod["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:16]}", "namespace": meta["namespace"]},
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta.get("uid"),
            "fieldPath": f"spec.containers{{{container}}}",
        },
        "type": kind,
        "reason": reason,
        "message": message,
        "source": {"component": "kubelet", "host": "devcluster"},
        "reportingComponent": "kubelet",
        "reportingInstance": "devcluster",
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
