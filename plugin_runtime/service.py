"""The standard OData v4 service shape over the queries a runtime hosts.

Two service roots, each with its service document, `$metadata` and one entity set per query:

    /odata                               every plugin of the runtime
    /plugins/{plugin_id}/odata           one plugin (a shared runtime hosts several)
    {root}                               service document: {"value": [{"name", "kind", "url"}]}
    {root}/$metadata                     CSDL XML; CSDL JSON with $format=json or Accept: application/json
    {root}/{EntitySet}                   the query's rows, with every OData query option
    {root}/{EntitySet}/$count            the number of rows matching `$filter`, as text/plain

`/queries/{id}`, each query's `api_endpoint` and `/$metadata` stay as aliases. An entity set name
served by two queries is addressed to the first (in the runtime's order); the others stay reachable
by their id. Errors are RFC 7807 problem documents (`application/problem+json`), not OData error
bodies: clients read `detail` (and `option`, `position`, `construct` where given).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from plugin_runtime import csdl_xml, errors, interface, links, metadata, odata
from plugin_runtime import host as host_module

__all__ = ["CSDL_XML", "Hooks", "metadata_response", "router", "service_document"]

CSDL_XML = "application/xml"
Authenticate = Callable[[Request], Awaitable[interface.SecurityCtx]]
AnswerQuery = Callable[[Request, host_module.QueryTarget, interface.SecurityCtx, str], Awaitable[Response]]


def service_document(root: str, entity_sets: list[str]) -> dict[str, Any]:
    return {
        "@odata.context": f"{root}/$metadata",
        "value": [{"name": name, "kind": "EntitySet", "url": name} for name in entity_sets],
    }


def wants_json(request: Request) -> bool:
    """`$format=json` (or a JSON media type), else an Accept header naming JSON and not XML."""
    fmt = request.query_params.get("$format")
    if fmt is not None:
        lowered = fmt.lower()
        if lowered in ("json", "application/json") or lowered.startswith("application/json;"):
            return True
        if lowered in ("xml", "application/xml"):
            return False
        raise errors.InvalidQuery("$format of $metadata: json or xml", option="$format")
    accept = request.headers.get("accept", "").lower()
    return "json" in accept and "xml" not in accept


def metadata_response(request: Request, document: dict[str, Any]) -> Response:
    if wants_json(request):
        return JSONResponse(document, headers={"OData-Version": "4.01"})
    return Response(csdl_xml.render(document), media_type=CSDL_XML, headers={"OData-Version": "4.0"})


def _root(request: Request, plugin_id: str | None, external_url: str | None) -> str:
    """The service root's absolute URL (on the configured external base: `links`)."""
    base = links.base(request, external_url)
    return f"{base}/odata" if plugin_id is None else f"{base}/plugins/{plugin_id}/odata"


@dataclasses.dataclass(frozen=True)
class Hooks:
    """What the service routes take from the server (kept in `app.state.odata_hooks`): how a caller is
    authenticated and authorized (the execute role) and how a query is answered, as on `/queries/{id}`."""

    authenticate: Authenticate
    answer: AnswerQuery


router = APIRouter()


def _host(request: Request) -> host_module.PluginHost:
    plugin_host: host_module.PluginHost = request.app.state.host
    return plugin_host


def _hooks(request: Request) -> Hooks:
    hooks: Hooks = request.app.state.odata_hooks
    return hooks


def _known_plugin(request: Request, plugin_id: str | None) -> host_module.PluginHost:
    plugin_host = _host(request)
    if plugin_id is not None:
        plugin_host.slot(plugin_id)  # 404 for a plugin this runtime does not host
    return plugin_host


async def _document(request: Request, plugin_id: str | None) -> JSONResponse:
    await _hooks(request).authenticate(request)  # the whole service is the executor's: a token with the execute role
    plugin_host = _known_plugin(request, plugin_id)
    body = service_document(
        _root(request, plugin_id, plugin_host.config.external_url), list(plugin_host.entity_sets(plugin_id))
    )
    return JSONResponse(body, headers={"OData-Version": "4.0"})


async def _csdl(request: Request, plugin_id: str | None) -> Response:
    await _hooks(request).authenticate(request)
    plugin_host = _known_plugin(request, plugin_id)
    return metadata_response(request, metadata.document(await plugin_host.catalogue(plugin_id)))


async def _entity_set(request: Request, plugin_id: str | None, name: str) -> Response:
    plugin_host = _known_plugin(request, plugin_id)
    target = plugin_host.entity_sets(plugin_id).get(name)
    if target is None:
        if "(" in name:
            raise errors.NotSupported(f"addressing single entities ({name}) is not supported: use $filter")
        raise errors.NotFound(f"no entity set '{name}' in this service")
    hooks = _hooks(request)
    ctx = await hooks.authenticate(request)
    return await hooks.answer(request, target, ctx, _root(request, plugin_id, plugin_host.config.external_url))


async def _count(request: Request, plugin_id: str | None, name: str) -> Response:
    """`{set}/$count`: the number of rows matching the request's `$filter`, as text."""
    plugin_host = _known_plugin(request, plugin_id)
    target = plugin_host.entity_sets(plugin_id).get(name)
    if target is None:
        raise errors.NotFound(f"no entity set '{name}' in this service")
    ctx = await _hooks(request).authenticate(request)
    params = odata.parse_params(request.query_params.multi_items())
    # The count of the filtered set: $top/$skip/$orderby/$select do not change it (OData 4.01, 11.2.10).
    asked = dataclasses.replace(params, count=True, top=0, skip=0, orderby=(), select=(), skiptoken=None)
    result = (await plugin_host.answer(target, ctx, asked)).result
    if result.count is None:
        raise errors.NotSupported(f"plugin '{target.plugin_id}' does not count the rows of '{name}'")
    return PlainTextResponse(str(result.count), headers={"OData-Version": "4.0"})


@router.get("/odata")
@router.get("/odata/")
async def runtime_document(request: Request) -> JSONResponse:
    return await _document(request, None)


@router.get("/odata/$metadata")
async def runtime_metadata(request: Request) -> Response:
    return await _csdl(request, None)


@router.get("/odata/{name}/$count")
async def runtime_count(name: str, request: Request) -> Response:
    return await _count(request, None, name)


@router.get("/odata/{name}")
async def runtime_entity_set(name: str, request: Request) -> Response:
    return await _entity_set(request, None, name)


@router.get("/plugins/{plugin_id}/odata")
@router.get("/plugins/{plugin_id}/odata/")
async def plugin_document(plugin_id: str, request: Request) -> JSONResponse:
    return await _document(request, plugin_id)


@router.get("/plugins/{plugin_id}/odata/$metadata")
async def plugin_metadata(plugin_id: str, request: Request) -> Response:
    return await _csdl(request, plugin_id)


@router.get("/plugins/{plugin_id}/odata/{name}/$count")
async def plugin_count(plugin_id: str, name: str, request: Request) -> Response:
    return await _count(request, plugin_id, name)


@router.get("/plugins/{plugin_id}/odata/{name}")
async def plugin_entity_set(plugin_id: str, name: str, request: Request) -> Response:
    return await _entity_set(request, plugin_id, name)
