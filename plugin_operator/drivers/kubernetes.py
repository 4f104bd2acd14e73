"""Kubernetes driver: each instance is a Deployment with its own Service; the plugin's stable Service
routes to the promoted one; or, for a shared instance (`Instance.seat`), a member of a runtime pool
(`drivers.pools`) whose stable Service routes to the pool.

Every manifest comes from the instance it is handed (`desired.Instance`, rendered by `render`); this
driver only applies them (server-side apply, one field manager), reads its own objects back to
find an instance and deletes them. It never reads the Plugin. Everything it creates carries an owner
reference to the Plugin, so the API server also garbage-collects what a removal left behind.
"""

from __future__ import annotations

import asyncio
import base64
import secrets as pysecrets
from typing import Any

from plugin_operator import naming, render, turns
from plugin_operator.drivers import pods
from plugin_operator.drivers.base import Handle, Instance, RuntimeStartFailed
from plugin_operator.drivers.pools import SharedPools
from plugin_operator.kube import Kube
from plugin_operator.runtime_client import RuntimeClient

_INSTANCE_CHARS = 10
#: What a removal deletes: every kind the driver applies, found by the plugin's labels.
_KINDS = (
    ("apps/v1", "Deployment"),
    ("v1", "Service"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
)


def _split_key(key: str) -> tuple[str, str]:
    namespace, _, name = key.partition(".")
    return namespace, name


def _names(key: str, instance_id: str) -> tuple[str, naming.Names]:
    namespace, cr_name = _split_key(key)
    version, short = instance_id[: -(_INSTANCE_CHARS + 1)], instance_id[-_INSTANCE_CHARS:]
    return namespace, naming.names(cr_name, version, short)


class KubernetesDriver:
    def __init__(
        self,
        *,
        kube: Kube,
        client: RuntimeClient | None = None,
        pool_size: int = 100,
        start_timeout: float = 300.0,
        poll_interval: float = 1.0,
    ) -> None:
        """`client` calls the pools' admin API (shared instances need it); `pool_size`: members per pool."""
        self.kube, self.start_timeout, self.poll_interval = kube, start_timeout, poll_interval
        self.pools = SharedPools(
            kube=kube, client=client, size=pool_size, start_timeout=start_timeout, poll_interval=poll_interval
        )

    @staticmethod
    def _endpoint(namespace: str, names: naming.Names) -> str:
        return f"http://{names.deployment}.{namespace}.svc:{naming.SERVICE_PORT}"

    def stable_endpoint(self, instance: Instance) -> str:
        """The plugin's own Service, which `promote` points at the serving instance."""
        return naming.service_url(instance.inputs.cr_name, instance.namespace)

    async def _admin_token(self, namespace: str, names: naming.Names) -> str | None:
        secret = await asyncio.to_thread(self.kube.get, "v1", "Secret", namespace, names.admin_secret)
        encoded = ((secret or {}).get("data") or {}).get(render.ADMIN_TOKEN_SECRET_KEY)
        return base64.b64decode(encoded).decode() if encoded else None

    async def start(self, instance: Instance) -> Handle:
        if instance.seat is not None:
            return await self.pools.start(instance)
        existing = await self.find(instance.key, instance.instance_id)
        if existing is not None:
            return existing
        # One token per plugin, minted once: instances beside each other share it.
        token = await self._admin_token(instance.namespace, instance.names) or pysecrets.token_urlsafe(24)
        for obj in instance.objects(admin_token=token):
            await asyncio.to_thread(self.kube.apply, obj)
        name = instance.names.deployment
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout
        while loop.time() < deadline:
            handle = await self.find(instance.key, instance.instance_id)
            if handle is not None:
                return handle
            deployment = await asyncio.to_thread(self.kube.get, "apps/v1", "Deployment", instance.namespace, name)
            failing = pods.failure(await self._pods(instance.namespace, deployment)) if deployment else None
            if failing is not None:
                raise RuntimeStartFailed(f"Deployment {instance.namespace}/{name}: {failing}")
            await turns.pause(self.poll_interval)  # waiting for a pod is not work: the turn goes meanwhile
        raise RuntimeStartFailed(
            f"Deployment {instance.namespace}/{name} has no available replica after {self.start_timeout:.0f}s"
        )

    async def find(self, key: str, instance_id: str) -> Handle | None:
        shared = await self.pools.find(key, instance_id)
        if shared is not None:
            return shared
        namespace, names = _names(key, instance_id)
        current = await asyncio.to_thread(self.kube.get, "apps/v1", "Deployment", namespace, names.deployment)
        if current is None or int(current["spec"].get("replicas", 1)) < 1:
            return None
        running = await self._pods(namespace, current)
        available = (current.get("status") or {}).get("availableReplicas", 0) >= 1
        if not available and not any(pods.started(pod) for pod in running):
            return None
        token = await self._admin_token(namespace, names)
        if token is None:
            return None
        missing = pods.isolation_missing(running)
        return Handle(key, instance_id, self._endpoint(namespace, names), token, isolation_missing=missing)

    async def _pods(self, namespace: str, deployment: dict[str, Any]) -> list[dict[str, Any]]:
        labels = (deployment["spec"].get("selector") or {}).get("matchLabels") or {}
        return await asyncio.to_thread(self.kube.list, "v1", "Pod", namespace, labels)

    async def promote(self, instance: Instance, handle: Handle) -> None:
        if instance.seat is not None:
            await self.pools.promote(instance)
            return
        await asyncio.to_thread(self.kube.apply, instance.stable_service())

    async def stop(self, key: str, instance_id: str) -> None:
        if await self.pools.stop(key, instance_id):
            return
        namespace, names = _names(key, instance_id)
        for api_version, kind, name in (
            ("apps/v1", "Deployment", names.deployment),
            ("v1", "Service", names.deployment),
            ("v1", "ConfigMap", names.configmap),
            ("v1", "Secret", names.stored_keys),
        ):
            await asyncio.to_thread(self.kube.delete, api_version, kind, namespace, name)

    async def stop_all(self, key: str) -> None:
        """Delete every object of the plugin (all instances, the shared ones), found by its labels."""
        await self.pools.stop_all(key)
        namespace, cr_name = _split_key(key)
        selector = naming.plugin_selector(cr_name)
        for api_version, kind in _KINDS:
            for obj in await asyncio.to_thread(self.kube.list, api_version, kind, namespace, selector):
                await asyncio.to_thread(self.kube.delete, api_version, kind, namespace, obj["metadata"]["name"])

    async def keys(self) -> set[str]:
        """The members of runtime pools: a pool belongs to no Plugin, so a member whose Plugin is gone is
        swept here; every other object carries an owner reference (the API server collects it)."""
        return await self.pools.keys()

    async def suspend(self, instance: Instance) -> None:
        """Scale the instance's Deployment to zero (a pool member leaves its pool); `start` applies it
        whole again (rejoins) when re-enabled."""
        if instance.seat is not None:
            await self.pools.stop(instance.key, instance.instance_id)
            return
        await asyncio.to_thread(self.kube.apply, instance.suspended())
