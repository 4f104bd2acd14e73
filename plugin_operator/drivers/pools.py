"""The Kubernetes driver's shared runtime pools: members join, roll out, roll back and leave (see `pooling`).

The pool's ConfigMap holds its member table; the operator (one leader) is its only writer, so the
table is read from the cluster once per namespace and kept here, and every change of a namespace's
pools is made under that namespace's lock: observe (the table), decide (`pooling.place`/`join`/
`leave`), apply (the ConfigMap first, so a pod started from now on hosts the change), and then tell
the running pool through its admin API (`PUT`/`DELETE /admin/plugins/{id}`), which loads or drops
that one plugin and leaves its neighbours serving. Waiting for the pool and calling it happen
outside the lock.

The table is written by group commit: a change is made in memory under the lock, then whoever writes
first writes the table as it then stands, and every change it includes is done — so 100 Plugins
joining a pool at once cost a few ConfigMap writes, not 100.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import secrets as pysecrets
from collections.abc import Callable
from typing import Any

from plugin_operator import naming, pool_render, pooling, render, turns
from plugin_operator.desired import Instance
from plugin_operator.drivers.base import Handle, RuntimeStartFailed
from plugin_operator.kube import Kube
from plugin_operator.runtime_client import RuntimeClient
from plugin_runtime import errors

log = logging.getLogger(__name__)

#: Seconds a pool seen with an available pod is taken as available without asking again.
_AVAILABLE_FOR = 1.0

#: Every kind a pool has, deleted when its last member leaves.
_KINDS = (
    ("apps/v1", "Deployment", "deployment"),
    ("v1", "Service", "service"),
    ("v1", "ConfigMap", "configmap"),
    ("v1", "Secret", "admin_secret"),
    ("networking.k8s.io/v1", "NetworkPolicy", "deployment"),
)


@dataclasses.dataclass
class _Pool:
    name: str
    class_id: str
    members: dict[str, pooling.Member]
    #: The runtime config besides its plugins (the operator's settings when the pool was made).
    settings: dict[str, Any]
    token: str = dataclasses.field(repr=False)
    #: Group commit of the member table: `version` counts changes, `written` the last one in the cluster.
    version: int = 0
    written: int = 0
    writing: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)
    created: bool = True
    deleted: bool = False


def _namespace(key: str) -> str:
    return key.partition(".")[0]


class SharedPools:
    def __init__(
        self, *, kube: Kube, client: RuntimeClient | None, size: int, start_timeout: float, poll_interval: float
    ) -> None:
        self.kube, self.client, self.size = kube, client, size
        self.start_timeout, self.poll_interval = start_timeout, poll_interval
        self._pools: dict[str, dict[str, _Pool]] = {}  # namespace → pool name → pool
        self._locks: dict[str, asyncio.Lock] = {}
        self._seen_available: dict[tuple[str, str], float] = {}

    # Observe ----------------------------------------------------------------------------------------

    async def _observe(self, namespace: str) -> dict[str, _Pool]:
        """The namespace's pools, read from their ConfigMaps and admin Secrets the first time."""
        if namespace not in self._pools:
            found: dict[str, _Pool] = {}
            configmaps = await asyncio.to_thread(
                self.kube.list, "v1", "ConfigMap", namespace, pool_render.POOLED_SELECTOR
            )
            for configmap in configmaps:
                labels = configmap["metadata"].get("labels") or {}
                name = labels[pool_render.POOL_LABEL]
                token = await self._token(namespace, name) or pysecrets.token_urlsafe(24)
                found[name] = _Pool(
                    name,
                    labels[pool_render.CLASS_LABEL],
                    pool_render.members_of(configmap),
                    pool_render.settings_of(configmap),
                    token=token,
                )
            self._pools[namespace] = found
        return self._pools[namespace]

    async def _token(self, namespace: str, pool: str) -> str | None:
        secret = await asyncio.to_thread(
            self.kube.get, "v1", "Secret", namespace, pool_render.names(pool)["admin_secret"]
        )
        encoded = ((secret or {}).get("data") or {}).get(render.ADMIN_TOKEN_SECRET_KEY)
        return base64.b64decode(encoded).decode() if encoded else None

    def _lock(self, namespace: str) -> asyncio.Lock:
        return self._locks.setdefault(namespace, asyncio.Lock())

    async def _holding(self, key: str, instance_id: str | None = None) -> list[_Pool]:
        """The pools that hold the member (running this instance, when given)."""
        pools = await self._observe(_namespace(key))
        return [
            p for p in pools.values() if key in p.members and (instance_id is None or p.members[key].runs(instance_id))
        ]

    @staticmethod
    def _endpoint(namespace: str, pool: str) -> str:
        return f"http://{pool}.{namespace}.svc:{naming.SERVICE_PORT}"

    async def _available(self, namespace: str, pool: str) -> bool:
        """Whether the pool has an available pod; a pool seen available within the last second is
        taken as still available (a hundred members joining at once ask the API server once)."""
        loop_time = asyncio.get_running_loop().time()
        if loop_time - self._seen_available.get((namespace, pool), -_AVAILABLE_FOR) < _AVAILABLE_FOR:
            return True
        current = await asyncio.to_thread(self.kube.get, "apps/v1", "Deployment", namespace, pool)
        available = current is not None and (current.get("status") or {}).get("availableReplicas", 0) >= 1
        if available:
            self._seen_available[(namespace, pool)] = loop_time
        else:
            self._seen_available.pop((namespace, pool), None)
        return available

    # The Driver's operations for a shared instance ---------------------------------------------------

    async def start(self, instance: Instance) -> Handle:
        """Join the member's pool (creating the pool if it is the first), then have the pool host it."""
        assert instance.seat is not None
        namespace, entry = instance.namespace, instance.member_entry()
        async with self._lock(namespace):
            pools = await self._observe(namespace)
            observed = [
                pooling.Pool(p.name, p.class_id, frozenset(p.members), pooling.table_bytes(p.members))
                for p in pools.values()
            ]
            seat, size = instance.seat, pooling.entry_bytes(entry)
            name = pooling.place(instance.key, seat.adapter, seat.class_id, observed, self.size, entry=size)
            pool = pools.get(name)
            if pool is None:
                settings = pool_render.runtime_settings(instance.inputs)
                token = pysecrets.token_urlsafe(24)
                pool = pools[name] = _Pool(name, instance.seat.class_id, {}, settings, token=token, created=False)
            pool.members = pooling.join(pool.members, instance.key, instance.instance_id, entry)
            pool.version += 1
            change = pool.version
        await self._commit(namespace, pool, change, creating=instance)
        endpoint = self._endpoint(namespace, name)
        await self._wait_available(namespace, name)
        await self._client().put_plugin(endpoint, pool.token, entry)
        return Handle(instance.key, instance.instance_id, endpoint, pool.token, shared=True)

    async def _commit(self, namespace: str, pool: _Pool, change: int, *, creating: Instance | None = None) -> None:
        """Write the member table unless a write since `change` already did (group commit). A new pool
        (made for `creating`) gets its other objects first and its Deployment after its first table."""
        async with pool.writing:
            if pool.written >= change or pool.deleted:
                return
            version = pool.version
            if not pool.created:
                assert creating is not None
                await self._create(creating, pool)
            table = pool_render.configmap(namespace, pool.name, pool.class_id, pool.settings, pool.members)
            await asyncio.to_thread(self.kube.apply, table)
            if not pool.created:
                assert creating is not None
                deployment = pool_render.deployment(creating.inputs, pool.name, pool.class_id)
                await asyncio.to_thread(self.kube.apply, deployment)
                pool.created = True
            pool.written = version

    async def find(self, key: str, instance_id: str) -> Handle | None:
        for pool in await self._holding(key, instance_id):
            namespace = _namespace(key)
            if await self._available(namespace, pool.name):
                return Handle(key, instance_id, self._endpoint(namespace, pool.name), pool.token, shared=True)
        return None

    async def promote(self, instance: Instance) -> None:
        holding = await self._holding(instance.key, instance.instance_id)
        if not holding:
            raise RuntimeStartFailed(f"{instance.key} is in no runtime pool: it cannot be promoted")
        await asyncio.to_thread(self.kube.apply, pool_render.member_service(instance.inputs, holding[0].name))

    async def stop(self, key: str, instance_id: str) -> bool:
        """Stop one instance of a member (a rolled-back entry gives way to the previous one); False when
        no pool runs it (a dedicated instance)."""
        holding = await self._holding(key, instance_id)
        for pool in holding:
            await self._leave(key, pool, lambda members: pooling.leave(members, key, instance_id))
        return bool(holding)

    async def stop_all(self, key: str) -> None:
        for pool in await self._holding(key):
            await self._leave(key, pool, lambda members: {k: v for k, v in members.items() if k != key})

    async def keys(self) -> set[str]:
        """Members of every pool (the reconciler stops those whose Plugin is gone)."""
        try:
            configmaps = await asyncio.to_thread(self.kube.list, "v1", "ConfigMap", "", pool_render.POOLED_SELECTOR)
        except errors.PluginError as exc:  # e.g. no cluster-wide list permission: the namespaces seen so far
            log.warning("runtime pools not listed cluster-wide", extra={"reason": str(exc)})
            return {key for pools in self._pools.values() for p in pools.values() for key in p.members}
        return {key for configmap in configmaps for key in pool_render.members_of(configmap)}

    # Apply ------------------------------------------------------------------------------------------

    async def _create(self, instance: Instance, pool: _Pool) -> None:
        """A new pool's objects other than its member table; its pods start once the table is written."""
        inputs, name, class_id = instance.inputs, pool.name, pool.class_id
        for obj in (
            pool_render.network_policy(inputs, name, class_id),
            pool_render.admin_secret(inputs, name, class_id, pool.token),
            pool_render.service(inputs, name, class_id),
        ):
            await asyncio.to_thread(self.kube.apply, obj)
        log.info("runtime pool created", extra={"pool": name, "namespace": instance.namespace})

    async def _leave(
        self, key: str, pool: _Pool, change: Callable[[pooling.Members], dict[str, pooling.Member]]
    ) -> None:
        namespace = _namespace(key)
        async with self._lock(namespace):
            before = pool.members.get(key)
            members = change(pool.members)
            if before is None or members.get(key) == before:
                return
            pool.members = members
            pool.version += 1
            version = pool.version
            if not members:  # the pool goes, before anyone can join a new pool of its name
                self._pools[namespace].pop(pool.name, None)
                async with pool.writing:
                    await self._delete(namespace, pool)
                    pool.deleted = True
                return
        await self._commit(namespace, pool, version)
        after, endpoint = members.get(key), self._endpoint(namespace, pool.name)
        if after is None:
            await self._client().remove_plugin(endpoint, pool.token, str(before.plugin["id"]))
        elif after.instance_id != before.instance_id:  # rolled back: the previous entry serves again
            await self._client().put_plugin(endpoint, pool.token, dict(after.plugin))

    async def _delete(self, namespace: str, pool: _Pool) -> None:
        names = pool_render.names(pool.name)
        self._seen_available.pop((namespace, pool.name), None)
        for api_version, kind, part in _KINDS:
            await asyncio.to_thread(self.kube.delete, api_version, kind, namespace, names[part])
        log.info("runtime pool deleted: no members left", extra={"pool": pool.name, "namespace": namespace})

    async def _wait_available(self, namespace: str, pool: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout
        while not await self._available(namespace, pool):
            if loop.time() > deadline:
                raise RuntimeStartFailed(
                    f"runtime pool {namespace}/{pool} has no available replica after {self.start_timeout:.0f}s"
                )
            await turns.pause(self.poll_interval)  # waiting for a pod is not work: the turn goes meanwhile

    def _client(self) -> RuntimeClient:
        if self.client is None:
            raise RuntimeStartFailed("shared runtimes need the runtime client (the driver was built without one)")
        return self.client
