"""The Deployment and ReplicaSet controllers of the dev cluster: `workloads`' decisions applied to the store.

They run as one task in the cluster's event loop and write through the emulator's store (so watches,
garbage collection and `kubectl get deploy,rs,pods` see every change, as with kube-controller-manager),
re-reading their kinds on each pass that follows a change of them: the store is in memory and small.
Deleting a Deployment removes its ReplicaSets and Pods by the store's garbage collection of owned objects.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

from plugin_devcluster import catalogue, objects, selectors, statuses, workloads
from plugin_devcluster.storage import Storage

log = logging.getLogger(__name__)

_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


#: What the controllers' passes read: a pass follows a change of any of them.
_INPUTS = (catalogue.DEPLOYMENTS, catalogue.REPLICASETS, catalogue.PODS)


def _owned(children: list[dict[str, Any]], owner: dict[str, Any]) -> list[dict[str, Any]]:
    return [child for child in children if workloads.owned_by(child, owner)]


class Controllers:
    """Reconciles every Deployment and ReplicaSet of the store every `interval` seconds."""

    def __init__(self, store: Storage, *, interval: float = 0.2) -> None:
        self.store, self.interval = store, interval

    async def run(self) -> None:
        # A pass only when a Deployment, ReplicaSet or Pod changed since the last one that completed:
        # nothing here depends on time alone, and a pass copies every one of them (five passes a
        # second were most of the cluster's CPU while a thousand Plugins converged).
        done: tuple[int, ...] | None = None
        while True:
            seen = tuple(self.store.changed_at(resource) for resource in _INPUTS)
            if seen != done:
                try:
                    await self.sync()
                    done = seen
                except asyncio.CancelledError:
                    raise
                except Exception:  # keep reconciling: one bad object must not stop the others
                    log.exception("dev cluster controllers: a pass failed")
            await asyncio.sleep(self.interval)

    async def sync(self) -> None:
        for deployment in self.store.objects_of(catalogue.DEPLOYMENTS):
            await self._deployment(deployment)
        for replicaset in self.store.objects_of(catalogue.REPLICASETS):
            await self._replicaset(replicaset)
        for deployment in self.store.objects_of(catalogue.DEPLOYMENTS):
            await self._deployment_status(deployment)

    async def _deployment(self, deployment: dict[str, Any]) -> None:
        namespace = deployment["metadata"]["namespace"]
        if deployment["metadata"].get("deletionTimestamp"):
            return
        owned = _owned(self.store.objects_of(catalogue.REPLICASETS, namespace), deployment)
        current = workloads.replicaset_for(deployment)
        if not any(rs["metadata"]["name"] == current["metadata"]["name"] for rs in owned):
            try:
                await self.store.create(catalogue.REPLICASETS, current, namespace=namespace)
            except statuses.ApiError as exc:  # e.g. a hash clash with a foreign object: report, retry later
                log.warning("cannot create ReplicaSet %s: %s", current["metadata"]["name"], exc)
                return
            owned = _owned(self.store.objects_of(catalogue.REPLICASETS, namespace), deployment)
        for name, replicas in workloads.replicaset_scales(deployment, owned).items():
            rs = next(r for r in owned if r["metadata"]["name"] == name)
            if replicas is None:
                await self.store.remove(catalogue.REPLICASETS, namespace, name)
            elif int(rs["spec"].get("replicas", 0)) != replicas:
                await self.store.scale(catalogue.REPLICASETS, namespace, name, replicas)

    async def _replicaset(self, replicaset: dict[str, Any]) -> None:
        namespace = replicaset["metadata"]["namespace"]
        selector = replicaset["spec"].get("selector") or {}
        pods = [
            pod
            for pod in _owned(self.store.objects_of(catalogue.PODS, namespace), replicaset)
            if selectors.label_selector_matches(selector, pod["metadata"].get("labels") or {})
            and not pod["metadata"].get("deletionTimestamp")
        ]
        for _ in range(int(replicaset["spec"].get("replicas", 0)) - len(pods)):
            suffix = "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(5))
            created, _ = await self.store.create(
                catalogue.PODS, workloads.pod_for(replicaset, suffix), namespace=namespace
            )
            pods.append(created)
        for name in workloads.pods_to_delete(replicaset, pods):
            await self.store.remove(catalogue.PODS, namespace, name)
            pods = [p for p in pods if p["metadata"]["name"] != name]
        status = workloads.replicaset_status(replicaset, pods)
        if {**(replicaset.get("status") or {}), **status} != (replicaset.get("status") or {}):
            await self.store.patch_status(catalogue.REPLICASETS, namespace, replicaset["metadata"]["name"], status)

    async def _deployment_status(self, deployment: dict[str, Any]) -> None:
        namespace = deployment["metadata"]["namespace"]
        owned = _owned(self.store.objects_of(catalogue.REPLICASETS, namespace), deployment)
        status = workloads.deployment_status(deployment, owned, now=objects.format_time(self.store.clock()))
        before = deployment.get("status") or {}
        if {k: before.get(k) for k in status} != status or set(before) - set(status):
            replaced = {**{k: None for k in before if k not in status}, **status}
            await self.store.patch_status(catalogue.DEPLOYMENTS, namespace, deployment["metadata"]["name"], replaced)
