"""The emulated API server: kmock's KubernetesEmulator, with the object store made to behave like etcd
behind a real kube-apiserver.

kmock keeps serving what it does well — discovery (`/api`, `/apis`, `/version`), the reaction DSL and
the `objects` store — while resource requests are served here, over `storage` (resource versions
from one global counter, the write rules of `objects`, schema admission, finalizers, garbage
collection of owned objects): selectors, Tables, server-side apply, and watches that resume from a
resourceVersion (a bounded change log; older versions answer 410 Expired, which kopf and client-go
handle by relisting).

Not emulated (by design; test such behaviour on a real cluster): RBAC beyond `rbac` (restricted
identities by token), admission webhooks,
controllers (Deployments never get pods or status), server-side apply beyond one manager per
object (`fieldmanager`), foreground deletion (treated
as background), pagination (`limit` is ignored), and a namespace's termination phase (deleting a
namespace deletes its objects at once).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Iterable
from typing import Any

import aiohttp.web
import attrs
import kmock

from plugin_devcluster import (
    catalogue,
    fieldmanager,
    objects,
    openapi,
    podlogs,
    rbac,
    selectors,
    statuses,
    tables,
    watches,
    wire,
)
from plugin_devcluster.storage import END_OF_STREAMS, Storage, resource_key

log = logging.getLogger(__name__)


@attrs.define(kw_only=True)
class Emulator(Storage):
    """The API server; `objects` (kmock's store) shows the stored state, `create` seeds objects."""

    #: Restricted identities (`rbac`); None: every caller may do everything.
    authorizer: rbac.Authorizer | None = None
    #: Where `pods/<name>/log` is read (the embedded kubelet); None: no pod has a log.
    pod_logs: podlogs.LogSource | None = None

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        for resource in catalogue.BUILTINS:
            self.declare(resource)
        self.fallback["get /openapi/v3"] << (lambda: openapi.index(self._types.values()))
        self.fallback["get", re.compile(r"/openapi/v3/.+")] << self._serve_openapi_document

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
        resource = self._types.get(resource_key(target))
        if resource is catalogue.PODS and target.subresource == "log" and target.name is not None:
            if raw.method != "GET":
                raise statuses.method_not_allowed(raw.method)
            return await podlogs.serve(raw, self._require(resource, target.namespace, target.name), self.pod_logs)
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

    # Watches ----------------------------------------------------------------------------------------

    async def _watch(
        self,
        raw: aiohttp.web.BaseRequest,
        resource: catalogue.ResourceType,
        namespace: str | None,
        selector: selectors.Selector,
    ) -> aiohttp.web.StreamResponse:
        params = raw.query
        ref = resource_key(resource)

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
                    if event is END_OF_STREAMS:
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
