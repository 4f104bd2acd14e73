"""What the Kubernetes driver reads from an instance's pods (pure): whether one answers, whether they
are failing for good, and whether the cluster reports missing isolation.

Kubernetes restarts crashing containers by itself; the driver only needs to know when to stop
waiting for an instance (a container that cannot start, or keeps crashing, says so in its waiting
reason) so a broken rollout or a crash-looping runtime is reported in seconds with the kubelet's own
words, not after the start timeout.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["ISOLATED_CONDITION", "failure", "isolation_missing", "started"]

#: The pod condition the embedded dev cluster's kubelet sets (`plugin_devcluster.podstatus.ISOLATED`).
ISOLATED_CONDITION = "devcluster.hyperspot.io/Isolated"
#: Waiting reasons that do not clear by waiting (a real kubelet's, and the dev cluster's).
_FATAL = frozenset(
    {
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "RunContainerError",
    }
)


def _statuses(pod: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list((pod.get("status") or {}).get("containerStatuses") or [])


def started(pod: Mapping[str, Any]) -> bool:
    """The pod's containers run and passed their startup probes: it answers, maybe not Ready (a plugin
    that failed to load, a backend down); the instance Service routes to it (`render.instance_service`)."""
    statuses = _statuses(pod)
    return bool(statuses) and all(s.get("started") and "running" in (s.get("state") or {}) for s in statuses)


def failure(pods: Iterable[Mapping[str, Any]]) -> str | None:
    """Why the instance's pods cannot serve, when a container is stuck in a waiting reason that waiting
    does not cure (with its last termination, if any); None while they may still come up."""
    for pod in pods:
        for status in _statuses(pod):
            waiting = (status.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") not in _FATAL:
                continue
            text = f"pod {pod['metadata']['name']}: {waiting['reason']}"
            last = (status.get("lastState") or {}).get("terminated")
            if last:
                restarts, reason, code = status.get("restartCount", 0), last.get("reason"), last.get("exitCode")
                text += f" (restarted {restarts} times; last: {reason}, exit code {code})"
            elif waiting.get("message"):
                text += f": {waiting['message']}"
            return text
    return None


def isolation_missing(pods: Iterable[Mapping[str, Any]]) -> str | None:
    """The message of a pod condition saying isolation is incomplete (the embedded dev cluster sets
    it; a real kubelet does not, and then this is None)."""
    for pod in pods:
        for condition in (pod.get("status") or {}).get("conditions") or []:
            if condition.get("type") == ISOLATED_CONDITION and condition.get("status") == "False":
                return str(condition.get("message") or "isolation incomplete")
    return None
