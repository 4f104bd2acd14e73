"""The emulated API server: kmock's KubernetesEmulator, with the object store made to behave like etcd
behind a real kube-apiserver.

kmock keeps serving what it does well — discovery (`/api`, `/apis`, `/version`), the reaction DSL and
the `objects` store — while resource requests are served here: resource versions from one global
counter, the write rules of `objects`, schema admission, selectors, Tables, finalizers, garbage
collection of owned objects, and watches that resume from a resourceVersion (a bounded change log;
older versions answer 410 Expired, which kopf and client-go handle by relisting).

Not emulated (by design; test such behaviour on a real cluster): RBAC beyond `rbac` (restricted
identities by token), admission webhooks,
controllers (Deployments never get pods or status), server-side apply beyond one manager per
object (`fieldmanager`), foreground deletion (treated
as background), pagination (`limit` is ignored), and a namespace's termination phase (deleting a
namespace deletes its objects at once).
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import json
import logging
import re
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import aiohttp.web
import attrs
import kmock

from plugin_devcluster import (
    catalogue,
    fieldmanager,
    objects,
    openapi,
    rbac,
    selectors,
    statuses,
    tables,
    watches,
    wire,
)

log = logging.getLogger(__name__)

#: Watch events kept per resource for resuming watches; older resourceVersions answer 410 Expired.
CHANGE_LOG_SIZE = 4096
#: Events older than this are dropped, as the real server's default `--event-ttl` does.
EVENT_TTL = datetime.timedelta(hours=1)
#: Put on every watch bus at shutdown, so open watch streams end instead of holding the server.
_END_OF_STREAMS = object()
_NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _ref(resource: catalogue.ResourceType | wire.Target) -> kmock.resource:
    return kmock.resource(resource.group, resource.version, resource.plural)


@attrs.define(kw_only=True)
class Emulator(kmock.KubernetesEmulator):
    """The API server; `objects` (kmock's store) shows the stored state, `create` seeds objects.

    All writes hold kmock's lock, so resource versions, the change log and watch buses stay in order.
    """

    clock: Callable[[], datetime.datetime] = _utcnow
    #: Restricted identities (`rbac`); None: every caller may do everything.
    authorizer: rbac.Authorizer | None = None
    _types: dict[kmock.resource, catalogue.ResourceType] = attrs.field(factory=dict, init=False)
    _revision: int = attrs.field(default=0, init=False)
    _changes: watches.ChangeLog = attrs.field(factory=lambda: watches.ChangeLog(CHANGE_LOG_SIZE), init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        for resource in catalogue.BUILTINS:
            self.declare(resource)
        self.fallback["get /openapi/v3"] << (lambda: openapi.index(self._types.values()))
        self.fallback["get", re.compile(r"/openapi/v3/.+")] << self._serve_openapi_document

    # Declared resources ------------------------------------------------------------------------------

    def declare(self, resource: catalogue.ResourceType) -> None:
        """Serve a resource type (replacing an earlier declaration of the same group/version/plural)."""
        self._types[_ref(resource)] = resource
        self.resources[_ref(resource)] = kmock.ResourceInfo(
            kind=resource.kind,
            namespaced=resource.namespaced,
            singular=resource.singular_name,
            shortnames=set(resource.short_names),
            categories=set(resource.categories),
            verbs=set(catalogue.VERBS),
            subresources={"status"} if resource.status_subresource else set(),
        )

    def _undeclare(self, resource: catalogue.ResourceType) -> None:
        del self._types[_ref(resource)]
        del self.resources[_ref(resource)]

    async def _serve_version(self, request: kmock.Request) -> dict[str, Any]:
        """`/apis/<group>/<version>`: kmock's, but subresources get no short names (kubectl warns on clashes)."""
        assert request.resource is not None  # the route only matches group/version paths
        served = [
            t
            for t in self._types.values()
            if (t.group, t.version) == (request.resource.group, request.resource.version)
        ]
        if not served:
            raise kmock.KubernetesResourceNotFoundError()
        return catalogue.api_resource_list(served, request.resource.group or "", request.resource.version or "")

    async def _serve_openapi_document(self, request: kmock.Request) -> dict[str, Any]:
        path = request.url.path.removeprefix("/openapi/v3/")
        members = [t for t in self._types.values() if openapi.group_version_path(t) == path]
        if not members:
            raise kmock.KubernetesNotFoundError()
        return openapi.document(members)

    # HTTP entry ------------------------------------------------------------------------------------

    async def __call__(self, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        target = wire.parse_path(raw.path)
        if target is None:
            return await super().__call__(raw)
        try:
            if self.authorizer is not None:
                self.authorizer.check(raw.headers, raw.method, target, raw.query)
            return await self._serve(raw, target)
        except statuses.ApiError as exc:
            return aiohttp.web.json_response(exc.status(), status=exc.code)
        except Exception:
            log.exception("The dev cluster failed to serve %s %s", raw.method, raw.path_qs)
            failure = statuses.ApiError(
                500, "InternalError", f"the dev cluster failed to serve {raw.method} {raw.path}"
            )
            return aiohttp.web.json_response(failure.status(), status=500)

    async def _serve(self, raw: aiohttp.web.BaseRequest, target: wire.Target) -> aiohttp.web.StreamResponse:
        resource = self._types.get(_ref(target))
        if resource is None or target.subresource not in (None, "status"):
            raise statuses.unknown_resource()
        if target.subresource and not resource.status_subresource:
            raise statuses.unknown_resource()
        namespace = target.namespace if resource.namespaced else None
        params = raw.query
        if raw.method == "GET" and params.get("watch") in ("true", "1"):
            return await self._watch(raw, resource, namespace, selectors.Selector.from_params(params))
        if raw.method == "GET" and target.name is not None:
            return self._respond(raw, resource, self._require(resource, namespace, target.name))
        if raw.method == "GET":
            return self._respond(raw, resource, self._list(resource, namespace, selectors.Selector.from_params(params)))
        body = wire.request_body(raw.content_type, await raw.read())
        dry_run = "dryRun" in params
        if raw.method == "POST" and target.name is None and target.subresource is None:
            if resource.namespaced and namespace is None:
                raise statuses.method_not_allowed("POST without a namespace")
            created, warnings = await self.create(
                resource, body, namespace=namespace, dry_run=dry_run, strict=params.get("fieldValidation") == "Strict"
            )
            return self._respond(raw, resource, created, status=201, warnings=warnings)
        if raw.method == "PATCH" and raw.content_type == fieldmanager.MEDIA_TYPE and target.name is not None:
            return await self._apply(raw, resource, namespace, target.name, body, target.subresource)
        if raw.method in ("PATCH", "PUT") and target.name is not None:
            name, subresource = target.name, target.subresource
            changed, warnings = await self._update(
                resource,
                namespace,
                name,
                body,
                content_type=raw.headers.get("Content-Type", "") if raw.method == "PATCH" else None,
                subresource=subresource,
                dry_run=dry_run,
                strict=params.get("fieldValidation") == "Strict",
            )
            return self._respond(raw, resource, changed, warnings=warnings)
        if raw.method == "DELETE" and target.name is not None and target.subresource is None:
            orphan = wire.propagation_policy(params, body) == "Orphan"
            return self._respond(
                raw, resource, await self._delete(resource, namespace, target.name, orphan=orphan, dry_run=dry_run)
            )
        raise statuses.method_not_allowed(raw.method)

    async def _apply(
        self,
        raw: aiohttp.web.BaseRequest,
        resource: catalogue.ResourceType,
        namespace: str | None,
        name: str,
        body: Any,
        subresource: str | None,
    ) -> aiohttp.web.Response:
        """Server-side apply: create the object, or update the fields its manager owns (`fieldmanager`)."""
        if subresource is not None:
            raise statuses.method_not_allowed("apply to a subresource")
        manager, now, dry_run = raw.query.get("fieldManager"), objects.format_time(self.clock()), "dryRun" in raw.query
        strict = raw.query.get("fieldValidation") == "Strict"
        existing = self._find(resource, namespace, name)
        if existing is None:
            configuration = fieldmanager.applied(None, body, manager=manager, now=now)
            configuration.setdefault("metadata", {}).update(name=name)
            created, warnings = await self.create(
                resource, configuration, namespace=namespace, dry_run=dry_run, strict=strict
            )
            return self._respond(raw, resource, created, status=201, warnings=warnings)
        changed, warnings = await self._update(
            resource,
            namespace,
            name,
            fieldmanager.applied(existing, body, manager=manager, now=now),
            content_type=None,
            subresource=None,
            dry_run=dry_run,
            strict=strict,
        )
        return self._respond(raw, resource, changed, warnings=warnings)

    def _respond(
        self,
        raw: aiohttp.web.BaseRequest,
        resource: catalogue.ResourceType,
        payload: dict[str, Any],
        *,
        status: int = 200,
        warnings: Iterable[str] = (),
    ) -> aiohttp.web.Response:
        if tables.wants_table(raw.headers.get("Accept", "")):
            rows = payload.get("items", [payload])
            payload = self._table(resource, rows, raw.query.get("includeObject", "Metadata"))
        response = aiohttp.web.json_response(payload, status=status)
        for warning in warnings:
            escaped = warning.replace("\\", "\\\\").replace('"', '\\"')
            response.headers.add("Warning", f'299 - "{escaped}"')
        return response

    def _table(
        self, resource: catalogue.ResourceType, rows: list[dict[str, Any]], include_object: str
    ) -> dict[str, Any]:
        return tables.table(
            resource, rows, now=self.clock(), resource_version=str(self._revision), include_object=include_object
        )

    # Reads ------------------------------------------------------------------------------------------

    def _stored(self, resource: catalogue.ResourceType, namespace: str | None = None) -> list[dict[str, Any]]:
        """The objects of a resource (of one namespace, or all), in etcd's order: namespace, then name."""
        ref = _ref(resource)
        found = [
            (ns or "", name, obj.raw)
            for (r, ns, name), obj in self._objects.items()
            if r == ref and (namespace is None or ns == namespace)
        ]
        return [obj for _, _, obj in sorted(found, key=lambda item: item[:2])]

    def _find(self, resource: catalogue.ResourceType, namespace: str | None, name: str) -> dict[str, Any] | None:
        key = (_ref(resource), namespace, name)
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
        meta = obj["metadata"]
        self._objects[_ref(resource), meta.get("namespace"), meta["name"]] = copy.deepcopy(obj)
        if resource == catalogue.CRDS:
            for served in catalogue.from_crd(obj):
                self.declare(served)
        await self._publish(resource, event, obj)
        return obj

    async def _remove(
        self, resource: catalogue.ResourceType, obj: dict[str, Any], *, orphan: bool = False
    ) -> dict[str, Any]:
        meta = obj["metadata"]
        del self._objects[_ref(resource), meta.get("namespace"), meta["name"]]
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
        horizon = self.clock() - EVENT_TTL
        for event in self._stored(catalogue.EVENTS):
            if objects.parse_time(event["metadata"]["creationTimestamp"]) < horizon:
                await self._remove(catalogue.EVENTS, event)

    async def _publish(self, resource: catalogue.ResourceType, event_type: str, obj: dict[str, Any]) -> None:
        event = {"type": event_type, "object": copy.deepcopy(obj)}
        self._changes.record(resource, self._revision, event)
        await self._buses[_ref(resource)].put(event)

    async def close_watches(self) -> None:
        """End every open watch stream (at shutdown; clients see a normal end of stream)."""
        for bus in list(self._buses.values()):
            await bus.put(_END_OF_STREAMS)

    # Watches ----------------------------------------------------------------------------------------

    async def _watch(
        self,
        raw: aiohttp.web.BaseRequest,
        resource: catalogue.ResourceType,
        namespace: str | None,
        selector: selectors.Selector,
    ) -> aiohttp.web.StreamResponse:
        params = raw.query
        ref = _ref(resource)

        def wanted(event: dict[str, Any]) -> bool:
            obj = event["object"]
            return (namespace is None or obj["metadata"].get("namespace") == namespace) and selector.matches(obj)

        async with self._lock:
            backlog = watches.backlog(
                resource=resource,
                params=dict(params),
                current=lambda: [obj for obj in self._stored(resource, namespace) if selector.matches(obj)],
                log=self._changes,
                revision=self._revision,
            )
            position = await self._buses[ref].mark()

        as_table = tables.wants_table(raw.headers.get("Accept", ""))
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(raw)
        timeout = float(params["timeoutSeconds"]) if params.get("timeoutSeconds", "").isdigit() else None
        try:
            async with asyncio.timeout(timeout):
                for event in backlog:
                    if event["type"] in ("ERROR", "BOOKMARK") or wanted(event):
                        await response.write(self._encode(resource, event, as_table))
                async for event in self._buses[ref].stream(since=position):
                    if event is _END_OF_STREAMS:
                        break
                    if wanted(event):
                        await response.write(self._encode(resource, event, as_table))
        except (TimeoutError, ConnectionError):
            pass  # the stream's time is up, or the client went away
        finally:
            await self._buses[ref].unmark(position)
        return response

    def _encode(self, resource: catalogue.ResourceType, event: dict[str, Any], as_table: bool) -> bytes:
        if as_table and event["type"] in ("ADDED", "MODIFIED", "DELETED"):
            event = {**event, "object": self._table(resource, [event["object"]], "Metadata")}
        return json.dumps(event).encode() + b"\n"
