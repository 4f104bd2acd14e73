"""What the Deployment and ReplicaSet controllers decide (pure): which ReplicaSets and Pods should
exist for a Deployment, and the status each reports.

A Deployment owns one ReplicaSet per pod template (named `<deployment>-<template hash>`, labelled
`pod-template-hash` as the real controller does). A rollout scales the new ReplicaSet to the
Deployment's replicas at once (the dev cluster has room for the surge) and the old ones to zero once
the new one is fully available; old ReplicaSets at zero are kept up to `revisionHistoryLimit`.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from plugin_devcluster import selectors

__all__ = [
    "HASH_LABEL",
    "deployment_status",
    "pod_for",
    "pods_to_delete",
    "replicaset_for",
    "replicaset_scales",
    "replicaset_status",
]

HASH_LABEL = "pod-template-hash"


def _owner(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def owned_by(obj: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    uid = owner["metadata"]["uid"]
    return any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])


def template_hash(template: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


def replicaset_for(deployment: Mapping[str, Any]) -> dict[str, Any]:
    """The ReplicaSet of the Deployment's current template (created with zero replicas; scaled after)."""
    template = copy.deepcopy(deployment["spec"]["template"])
    digest = template_hash(template)
    labels = {**(template.get("metadata") or {}).get("labels", {}), HASH_LABEL: digest}
    template.setdefault("metadata", {})["labels"] = labels
    selector = copy.deepcopy(deployment["spec"].get("selector") or {})
    selector.setdefault("matchLabels", {})[HASH_LABEL] = digest
    meta = deployment["metadata"]
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{meta['name']}-{digest}",
            "namespace": meta["namespace"],
            "labels": labels,
            "annotations": {"deployment.kubernetes.io/revision": digest},
            "ownerReferences": [_owner(deployment)],
        },
        "spec": {"replicas": 0, "selector": selector, "template": template},
    }


def replicaset_scales(deployment: Mapping[str, Any], replicasets: Sequence[Mapping[str, Any]]) -> dict[str, int | None]:
    """ReplicaSet name → the replicas it should have (None: delete it) for the Deployment's rollout."""
    wanted = int(deployment["spec"].get("replicas", 1))
    current = replicaset_for(deployment)["metadata"]["name"]
    new = next((rs for rs in replicasets if rs["metadata"]["name"] == current), None)
    new_available = int(((new or {}).get("status") or {}).get("availableReplicas", 0))
    rolled = new_available >= wanted
    scales: dict[str, int | None] = {current: wanted}
    old = sorted(
        (rs for rs in replicasets if rs["metadata"]["name"] != current),
        key=lambda rs: rs["metadata"].get("creationTimestamp", ""),
        reverse=True,
    )
    keep = int(deployment["spec"].get("revisionHistoryLimit", 10))
    for position, rs in enumerate(old):
        if rolled or wanted == 0:
            scales[rs["metadata"]["name"]] = 0 if position < keep else None
        else:
            scales[rs["metadata"]["name"]] = int(rs["spec"].get("replicas", 0))
    return scales


def _ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def pod_for(replicaset: Mapping[str, Any], suffix: str) -> dict[str, Any]:
    template = replicaset["spec"]["template"]
    meta = replicaset["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{meta['name']}-{suffix}",
            "namespace": meta["namespace"],
            "labels": dict((template.get("metadata") or {}).get("labels") or {}),
            "annotations": dict((template.get("metadata") or {}).get("annotations") or {}),
            "ownerReferences": [_owner(replicaset)],
        },
        "spec": {**copy.deepcopy(template["spec"]), "nodeName": "devcluster"},
        "status": {"phase": "Pending"},
    }


def pods_to_delete(replicaset: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> list[str]:
    """The pods over the ReplicaSet's replicas, not-ready and newest first (as the real controller)."""
    excess = len(pods) - int(replicaset["spec"].get("replicas", 0))
    if excess <= 0:
        return []
    newest_first = sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp", ""), reverse=True)
    ranked = sorted(newest_first, key=_ready)  # stable: not-ready first, newest first within each
    return [p["metadata"]["name"] for p in ranked[:excess]]


def replicaset_status(replicaset: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    ready = sum(1 for p in pods if _ready(p))
    selector = replicaset["spec"].get("selector") or {}
    labelled = sum(1 for p in pods if selectors.label_selector_matches(selector, p["metadata"].get("labels") or {}))
    return {
        "replicas": len(pods),
        "fullyLabeledReplicas": labelled,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "observedGeneration": replicaset["metadata"].get("generation", 1),
    }


def _condition(kind: str, ok: bool, reason: str, message: str, now: str) -> dict[str, Any]:
    return {
        "type": kind,
        "status": "True" if ok else "False",
        "reason": reason,
        "message": message,
        "lastUpdateTime": now,
        "lastTransitionTime": now,
    }


def deployment_status(
    deployment: Mapping[str, Any], replicasets: Sequence[Mapping[str, Any]], *, now: str
) -> dict[str, Any]:
    """Replica counts summed over the Deployment's ReplicaSets, and Available/Progressing conditions.

    Transition times are kept from `deployment`'s current conditions while a condition's status holds.
    """
    wanted = int(deployment["spec"].get("replicas", 1))
    current = replicaset_for(deployment)["metadata"]["name"]
    totals = {"replicas": 0, "readyReplicas": 0, "availableReplicas": 0, "updatedReplicas": 0}
    for rs in replicasets:
        status = rs.get("status") or {}
        totals["replicas"] += int(status.get("replicas", 0))
        totals["readyReplicas"] += int(status.get("readyReplicas", 0))
        totals["availableReplicas"] += int(status.get("availableReplicas", 0))
        if rs["metadata"]["name"] == current:
            totals["updatedReplicas"] = int(status.get("replicas", 0))
    available = totals["availableReplicas"] >= wanted
    complete = totals["updatedReplicas"] == wanted and totals["replicas"] == wanted and available
    conditions = [
        _condition(
            "Available",
            available,
            "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
            "Deployment has minimum availability." if available else "Deployment does not have minimum availability.",
            now,
        ),
        _condition(
            "Progressing",
            True,
            "NewReplicaSetAvailable" if complete else "ReplicaSetUpdated",
            f'ReplicaSet "{current}" has successfully progressed.'
            if complete
            else f'ReplicaSet "{current}" is progressing.',
            now,
        ),
    ]
    previous = {c["type"]: c for c in (deployment.get("status") or {}).get("conditions") or []}
    for condition in conditions:
        before = previous.get(condition["type"])
        if before is not None and before["status"] == condition["status"]:
            condition["lastTransitionTime"] = before.get("lastTransitionTime", now)
            if before.get("reason") == condition["reason"]:
                condition["lastUpdateTime"] = before.get("lastUpdateTime", now)
    return {
        **{k: v for k, v in totals.items() if v or k == "replicas"},
        "observedGeneration": deployment["metadata"].get("generation", 1),
        "conditions": conditions,
    }
