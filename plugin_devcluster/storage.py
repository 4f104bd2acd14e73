"""The dev cluster's object store, made to behave like etcd behind a real kube-apiserver.

Resource versions come from one global counter; writes follow the rules of `objects` (schema
admission, finalizers, garbage collection of owned objects, Event expiry); every change is recorded
in a bounded change log (`watches`) and published on the resource's watch bus. `apiserver` serves
HTTP on top of it.
"""

from __future__ import annotations

import copy
import datetime
import secrets
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import kmock

from plugin_devcluster import catalogue, objects, selectors, statuses, watches, wire

#: Watch events kept per resource for resuming watches; older resourceVersions answer 410 Expired.
CHANGE_LOG_SIZE = 4096
#: Events older than this are dropped, as the real server's default `--event-ttl` does.
EVENT_TTL = datetime.timedelta(hours=1)
#: Put on every watch bus at shutdown, so open watch streams end instead of holding the server.
END_OF_STREAMS = object()
_NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
CRDS_KEY = (catalogue.CRDS.group, catalogue.CRDS.version, catalogue.CRDS.plural)


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def resource_key(resource: catalogue.ResourceType | wire.Target) -> kmock.resource:
    return kmock.resource(resource.group, resource.version, resource.plural)


def _plain(resource: catalogue.ResourceType) -> tuple[str, str, str]:
    """The resource as a plain key (kmock.resource compares field by field, slowly)."""
    return resource.group, resource.version, resource.plural


@attrs.define(kw_only=True)
class Storage(kmock.KubernetesEmulator):
    """kmock's emulator with its `objects` store kept as etcd would; `create` seeds objects.

    All writes hold kmock's lock, so resource versions, the change log and watch buses stay in order.
    """

    clock: Callable[[], datetime.datetime] = _utcnow
    _types: dict[kmock.resource, catalogue.ResourceType] = attrs.field(factory=dict, init=False)
    _revision: int = attrs.field(default=0, init=False)
    _changes: watches.ChangeLog = attrs.field(factory=lambda: watches.ChangeLog(CHANGE_LOG_SIZE), init=False)
    #: Called after every stored change (persistence schedules a snapshot from it).
    on_change: Callable[[], None] | None = attrs.field(default=None, init=False)
    #: The keys of the stored objects by resource: reads of one kind (a controller's pass, a list, a
    #: Service lookup) visit its objects only, not every object of the cluster (a thousand Plugins
    #: and their Events made each of the controllers' passes, five a second, walk them all).
    _index: dict[tuple[str, str, str], dict[tuple[str | None, str], kmock.resource]] = attrs.field(
        factory=dict, init=False
    )
    #: The revision of each resource's last change (`changed_at`).
    _changed: dict[tuple[str, str, str], int] = attrs.field(factory=dict, init=False)
    #: No stored Event was created before this (None: unknown), so expiry need not look before it.
    _oldest_event: datetime.datetime | None = attrs.field(default=None, init=False)

    # Declared resources ------------------------------------------------------------------------------

    def declare(self, resource: catalogue.ResourceType) -> None:
        """Serve a resource type (replacing an earlier declaration of the same group/version/plural)."""
        self._types[resource_key(resource)] = resource
        self.resources[resource_key(resource)] = kmock.ResourceInfo(
            kind=resource.kind,
            namespaced=resource.namespaced,
            singular=resource.singular_name,
            shortnames=set(resource.short_names),
            categories=set(resource.categories),
            verbs=set(catalogue.VERBS),
            subresources={"status"} if resource.status_subresource else set(),
        )

    def _undeclare(self, resource: catalogue.ResourceType) -> None:
        del self._types[resource_key(resource)]
        del self.resources[resource_key(resource)]

    # Reads ------------------------------------------------------------------------------------------

    def _stored(self, resource: catalogue.ResourceType, namespace: str | None = None) -> list[dict[str, Any]]:
        """The objects of a resource (of one namespace, or all), in etcd's order: namespace, then name."""
        keys = self._index.get(_plain(resource), {})
        found = [
            (ns or "", name, self._objects[ref, ns, name].raw)
            for (ns, name), ref in keys.items()
            if namespace is None or ns == namespace
        ]
        return [obj for _, _, obj in sorted(found, key=lambda item: item[:2])]

    def _put(self, resource: catalogue.ResourceType, obj: dict[str, Any]) -> None:
        """Store the object (a copy) and index it."""
        meta, ref = obj["metadata"], resource_key(resource)
        self._objects[ref, meta.get("namespace"), meta["name"]] = copy.deepcopy(obj)
        self._index.setdefault(_plain(resource), {})[meta.get("namespace"), meta["name"]] = ref

    def _drop(self, resource: catalogue.ResourceType, meta: Mapping[str, Any]) -> None:
        del self._objects[resource_key(resource), meta.get("namespace"), meta["name"]]
        self._index.get(_plain(resource), {}).pop((meta.get("namespace"), meta["name"]), None)

    def _find(self, resource: catalogue.ResourceType, namespace: str | None, name: str) -> dict[str, Any] | None:
        key = (resource_key(resource), namespace, name)
        return copy.deepcopy(self._objects[key].raw) if key in self._objects else None

    def _require(self, resource: catalogue.ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        found = self._find(resource, namespace, name)
        if found is None:
            raise statuses.not_found(resource, name)
        return found

    def _list(
        self, resource: catalogue.ResourceType, namespace: str | None, selector: selectors.Selector
    ) -> dict[str, Any]:
        return {
            "kind": f"{resource.kind}List",
            "apiVersion": resource.api_version,
            "metadata": {"resourceVersion": str(self._revision)},
            "items": [copy.deepcopy(obj) for obj in self._stored(resource, namespace) if selector.matches(obj)],
        }

    # Writes -----------------------------------------------------------------------------------------

    async def create(
        self,
        resource: catalogue.ResourceType,
        body: Any,
        *,
        namespace: str | None = None,
        dry_run: bool = False,
        strict: bool = False,
    ) -> tuple[dict[str, Any], list[str]]:
        """Create an object as a POST would; returns it and the warnings (unknown fields dropped)."""
        if not isinstance(body, Mapping):
            raise statuses.bad_request("the request body must be a JSON object")
        async with self._lock:
            suffix = "".join(secrets.choice(_NAME_SUFFIX_ALPHABET) for _ in range(5))
            obj = objects.created(
                resource, body, namespace=namespace, uid=str(uuid.uuid4()), now=self.clock(), name_suffix=suffix
            )
            obj, warnings = objects.admitted(resource, obj, strict=strict)
            name = obj["metadata"]["name"]
            if namespace is not None and self._find(catalogue.NAMESPACES, None, namespace) is None:
                raise statuses.namespace_not_found(namespace)
            if self._find(resource, namespace, name) is not None:
                raise statuses.already_exists(resource, name)
            self._admit_definition(resource, obj)
            if not dry_run:
                obj = await self._store(resource, obj, "ADDED")
                if resource == catalogue.EVENTS:
                    await self._expire_events()
            return obj, warnings

    async def _update(
        self,
        resource: catalogue.ResourceType,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        content_type: str | None,
        subresource: str | None,
        dry_run: bool,
        strict: bool,
    ) -> tuple[dict[str, Any], list[str]]:
        """PATCH (`content_type` given) or PUT of an object or its status."""
        async with self._lock:
            old = self._require(resource, namespace, name)
            what = f'{resource.qualified_name} "{name}"'
            candidate = wire.patched(old, body, content_type, what=what) if content_type is not None else body
            if not isinstance(candidate, Mapping):
                raise statuses.bad_request("the request body must be a JSON object")
            new = objects.updated(resource, old, candidate, subresource=subresource)
            new, warnings = objects.admitted(resource, new, strict=strict)
            new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            self._admit_definition(resource, new)
            if new == old or dry_run:
                return new, warnings
            if objects.releasable(new):
                return await self._remove(resource, new), warnings
            return await self._store(resource, new, "MODIFIED"), warnings

    async def _delete(
        self, resource: catalogue.ResourceType, namespace: str | None, name: str, *, orphan: bool, dry_run: bool
    ) -> dict[str, Any]:
        async with self._lock:
            obj = self._require(resource, namespace, name)
            return obj if dry_run else await self._delete_locked(resource, obj, orphan=orphan)

    async def _delete_locked(
        self, resource: catalogue.ResourceType, obj: dict[str, Any], *, orphan: bool = False
    ) -> dict[str, Any]:
        """Remove the object, or only mark it while finalizers hold it (then their removal removes it)."""
        if not obj["metadata"].get("finalizers"):
            return await self._remove(resource, obj, orphan=orphan)
        if obj["metadata"].get("deletionTimestamp"):
            return obj
        return await self._store(resource, objects.being_deleted(obj, now=self.clock()), "MODIFIED")

    def _admit_definition(self, resource: catalogue.ResourceType, obj: dict[str, Any]) -> None:
        """A CustomResourceDefinition must describe a servable kind before it is stored."""
        if resource == catalogue.CRDS:
            try:
                catalogue.from_crd(obj)
            except (KeyError, TypeError, AttributeError) as exc:
                raise statuses.bad_request(f"invalid CustomResourceDefinition: missing or malformed {exc}") from None

    # The store (the lock is held) ---------------------------------------------------------------------

    def _next_revision(self) -> str:
        self._revision += 1
        return str(self._revision)

    async def _store(self, resource: catalogue.ResourceType, obj: dict[str, Any], event: str) -> dict[str, Any]:
        obj["metadata"]["resourceVersion"] = self._next_revision()
        self._put(resource, obj)
        if resource == catalogue.CRDS:
            for served in catalogue.from_crd(obj):
                self.declare(served)
        await self._publish(resource, event, obj)
        return obj

    async def _remove(
        self, resource: catalogue.ResourceType, obj: dict[str, Any], *, orphan: bool = False
    ) -> dict[str, Any]:
        meta = obj["metadata"]
        self._drop(resource, meta)
        meta["resourceVersion"] = self._next_revision()
        await self._publish(resource, "DELETED", obj)
        if resource == catalogue.CRDS:
            for served in catalogue.from_crd(obj):
                for custom in self._stored(served):
                    await self._remove(served, custom)
                self._undeclare(served)
        elif resource == catalogue.NAMESPACES:
            for contained in [t for t in self._types.values() if t.namespaced]:
                for member in self._stored(contained, meta["name"]):
                    await self._delete_locked(contained, member)
        if not orphan:
            await self._collect_garbage(meta)
        return obj

    async def _collect_garbage(self, owner_meta: Mapping[str, Any]) -> None:
        """Delete the objects owned by a removed one, unless another of their owners still exists."""
        live_uids = {obj.raw["metadata"].get("uid") for obj in self._objects.values()}
        for resource in list(self._types.values()):
            scope = owner_meta.get("namespace") if resource.namespaced else None
            for obj in self._stored(resource, scope):
                owners = objects.owner_uids(obj)
                orphaned = owner_meta["uid"] in owners and not owners & live_uids
                if orphaned and self._find(resource, obj["metadata"].get("namespace"), obj["metadata"]["name"]):
                    await self._delete_locked(resource, obj)

    async def _expire_events(self) -> None:
        """Drop the Events older than the TTL; looks through them only when the oldest may have expired
        (every Event created used to walk all of them: quadratic in Events)."""
        now = self.clock()
        horizon = now - EVENT_TTL
        if self._oldest_event is not None and self._oldest_event >= horizon:
            return
        oldest = now
        for event in self._stored(catalogue.EVENTS):
            created = objects.parse_time(event["metadata"]["creationTimestamp"])
            if created < horizon:
                await self._remove(catalogue.EVENTS, event)
            else:
                oldest = min(oldest, created)
        self._oldest_event = oldest

    async def _publish(self, resource: catalogue.ResourceType, event_type: str, obj: dict[str, Any]) -> None:
        event = {"type": event_type, "object": copy.deepcopy(obj)}
        self._changes.record(resource, self._revision, event)
        self._changed[_plain(resource)] = self._revision
        await self._buses[resource_key(resource)].put(event)
        if self.on_change is not None:
            self.on_change()

    # In-process clients: the dev cluster's controllers and kubelet (same loop, no HTTP, no RBAC) -----

    def objects_of(self, resource: catalogue.ResourceType, namespace: str | None = None) -> list[dict[str, Any]]:
        return [copy.deepcopy(obj) for obj in self._stored(resource, namespace)]

    def find(self, resource: catalogue.ResourceType, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self._find(resource, namespace, name)

    def changed_at(self, resource: catalogue.ResourceType) -> int:
        """The revision of the resource's last change since start (0: none): a controller whose inputs
        did not change since its last pass has nothing to do."""
        return self._changed.get(_plain(resource), 0)

    async def patch_status(
        self, resource: catalogue.ResourceType, namespace: str, name: str, status: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """Merge-patch an object's status as its controller; None when the object is gone."""
        if self._find(resource, namespace, name) is None:
            return None
        body = {"status": dict(status)}
        changed, _ = await self._update(
            resource,
            namespace,
            name,
            body,
            content_type=wire.MERGE_PATCH,
            subresource="status",
            dry_run=False,
            strict=False,
        )
        return changed

    async def scale(self, resource: catalogue.ResourceType, namespace: str, name: str, replicas: int) -> None:
        body = {"spec": {"replicas": replicas}}
        await self._update(
            resource,
            namespace,
            name,
            body,
            content_type=wire.MERGE_PATCH,
            subresource=None,
            dry_run=False,
            strict=False,
        )

    async def remove(self, resource: catalogue.ResourceType, namespace: str, name: str) -> None:
        """Delete if present (owned objects are collected)."""
        async with self._lock:
            obj = self._find(resource, namespace, name)
            if obj is not None:
                await self._delete_locked(resource, obj)

    def snapshot(self, skip: set[catalogue.ResourceType]) -> list[dict[str, Any]]:
        """Every stored object of the declared types not in `skip`, each with its resource's key."""
        return [
            {"resource": [t.group, t.version, t.plural], "object": copy.deepcopy(obj)}
            for t in list(self._types.values())
            if t not in skip
            for obj in self._stored(t)
        ]

    def restore(self, entries: list[dict[str, Any]]) -> None:
        """Put snapshotted objects back as they were (uids, resourceVersions), CRDs first; before serving."""
        ordered = sorted(entries, key=lambda e: tuple(e["resource"]) != CRDS_KEY)
        for entry in ordered:
            group, version, plural = entry["resource"]
            resource = self._types.get(kmock.resource(group, version, plural))
            if resource is None:
                continue  # its CRD is gone
            obj = entry["object"]
            meta = obj["metadata"]
            self._put(resource, obj)
            self._revision = max(self._revision, int(meta.get("resourceVersion") or 0))
            if resource == catalogue.CRDS:
                for served in catalogue.from_crd(obj):
                    self.declare(served)

    async def close_watches(self) -> None:
        """End every open watch stream (at shutdown; clients see a normal end of stream)."""
        for bus in list(self._buses.values()):
            await bus.put(END_OF_STREAMS)
