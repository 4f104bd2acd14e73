"""The runtime's HTTP surface (FastAPI): queries, translations, health, metadata, metrics, admin.

Every failure becomes an RFC 7807 problem document through `plugin_runtime.problems`, the edge
the operator's management API installs too.

    GET  /queries/{query_id}                 OData JSON (also on each query's own api_endpoint), with
                                             Cache-Control/Age; `Cache-Control: no-cache` skips the cache
    GET  /queries/{query_id}/translate       the backend query the adapter would run, and the options
                                             after preprocessing
    GET  /health  /health/live  /health/ready  /plugins/{id}/health
    GET  /metadata  /$metadata  /metrics
    GET  /odata[/$metadata|/{EntitySet}]     the OData v4 service (see service.py), and per plugin
         /plugins/{id}/odata[...]
    POST /admin/plugins/{id}/disable|enable  /admin/reload      (Bearer <admin token>)
    PUT|DELETE /admin/plugins/{id}           host one plugin (a RuntimePlugin body) / stop hosting it

Access policy (with `auth.mode: jwt`, what the operator renders): queries and translations need a
verified token carrying the execute role (no token 401, no role 403); the detailed health
documents, `/metadata` and `/$metadata` need a verified token (the executor's or the operator's);
the OData service under `/odata` and `/plugins/{id}/odata` needs the execute role throughout;
`/health/live` and `/health/ready` (kubelet probes) answer up/down only and `/metrics` (counters,
no values) stay open; admin calls need the per-runtime admin token.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from starlette.routing import Route

from plugin_runtime import (
    answer_json,
    cache,
    config,
    errors,
    health,
    interface,
    links,
    metadata,
    odata,
    paging,
    problems,
    reading,
    service,
    tokens,
)
from plugin_runtime import host as host_module

__all__ = ["ODATA_JSON", "create_app", "endpoints", "router"]

log = logging.getLogger(__name__)

ODATA_JSON = "application/json;odata.metadata=minimal"
_ODATA_HEADERS = {"OData-Version": "4.0"}  # clients such as Power BI check it


def _odata_response(body: dict[str, Any]) -> Response:
    """The answer's JSON (`answer_json`: orjson, IEEE 754 specials as OData's strings) with OData's headers."""
    return Response(answer_json.encode(body), media_type=ODATA_JSON, headers=_ODATA_HEADERS)


def _next_link(
    request: Request,
    params: odata.ODataParams,
    page: paging.Page,
    read: reading.Read,
    external_url: str | None,
) -> str | None:
    """The request's own URL with the `$skiptoken` of the next page (naming the cursor that holds it,
    if any), when the page size cut the result (on the configured external base, never the caller's
    Host header: `links`)."""
    result = read.answer.result
    position = page.next_position(len(result.rows), result.has_more)
    if position is None:
        return None
    url = request.url.remove_query_params("$skiptoken").include_query_params(
        **{"$skiptoken": paging.next_token(params, position, read.cursor)}
    )
    return links.absolute(request, external_url, url)


def _wants_refresh(request: Request) -> bool:
    """`Cache-Control: no-cache` (or `max-age=0`) from the caller: do not answer from the cache."""
    directives = {part.strip().lower() for part in request.headers.get("cache-control", "").split(",")}
    return bool(directives & {"no-cache", "max-age=0"})


def _with_cache_headers(response: Response, freshness: cache.Freshness | None) -> Response:
    """`Cache-Control` and `Age` for the answer: private (it is one tenant's), never stored if uncached."""
    if freshness is None:
        response.headers["Cache-Control"] = "no-store"
        return response
    response.headers["Cache-Control"] = f"private, max-age={max(int(freshness.max_age_seconds), 0)}"
    response.headers["Age"] = str(int(freshness.age_seconds))
    return response


def create_app(plugin_host: host_module.PluginHost) -> FastAPI:
    """The app over a host; its lifespan loads the plugins, watches their folder and drains at exit."""
    app = FastAPI(title="HyperSpot analytics plugin runtime", lifespan=_lifespan, docs_url=None, redoc_url=None)
    app.state.host = plugin_host
    problems.install(app, server="runtime")
    app.include_router(router)
    app.state.odata_hooks = service.Hooks(authenticate=_authorize_execute, answer=_answer_query)
    app.include_router(service.router)  # before `endpoints`: its catch-all must not shadow the service
    app.include_router(endpoints)  # last: its catch-all must not shadow the routes above
    return app


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    plugin_host = _host(app)
    await plugin_host.start()
    if not plugin_host.auth.required:
        log.warning(
            "AUTHENTICATION IS OFF (auth.mode: none): anyone who can reach this runtime can query every "
            "backend it serves; use auth.mode jwt outside local experiments"
        )
    watcher = asyncio.create_task(plugin_host.watch())
    try:
        yield
    finally:
        watcher.cancel()
        await plugin_host.close()


def _host(app: FastAPI) -> host_module.PluginHost:
    host: host_module.PluginHost = app.state.host
    return host


async def _authenticate(request: Request) -> interface.SecurityCtx:
    auth = _host(request.app).auth
    authorization = request.headers.get("authorization")
    if auth.may_fetch_keys(authorization):
        return await asyncio.to_thread(auth.authenticate, authorization)
    return auth.authenticate(authorization)


async def _authorize_execute(request: Request) -> interface.SecurityCtx:
    """A verified caller that also carries the execute role (403 otherwise)."""
    ctx = await _authenticate(request)
    _host(request.app).auth.authorize_execute(ctx)
    return ctx


def _require_admin(request: Request) -> None:
    plugin_host = _host(request.app)
    variable = plugin_host.config.admin_token_env
    expected = plugin_host.environ.get(variable)
    if not expected:
        raise errors.Forbidden(f"admin endpoints are disabled: {variable} is not set")
    given = tokens.bearer_token(request.headers.get("authorization"))
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise errors.Unauthenticated("invalid admin token")


async def _answer_query(
    request: Request, target: host_module.QueryTarget, ctx: interface.SecurityCtx, root: str | None = None
) -> Response:
    """The OData answer; `root` is the service root whose `$metadata` the context names."""
    plugin_host = _host(request.app)
    started, status = time.perf_counter(), "500"
    try:
        params = odata.parse_params(request.query_params.multi_items())
        page = paging.plan(params, size=plugin_host.page_size(target))
        read = await reading.read(plugin_host, target, ctx, page, refresh=_wants_refresh(request))
        answer = read.answer
        result = answer.result
        external = plugin_host.config.external_url
        context = f"{root or links.base(request, external)}/$metadata#{result.entity_set}"
        next_link = _next_link(request, params, page, read, external)
        body = result.to_odata(context=context, next_link=next_link)
        status = "200"
        return _with_cache_headers(_odata_response(body), answer.freshness)
    except errors.PluginError as exc:
        status = str(exc.status)
        raise
    finally:
        plugin_host.metrics.queries.labels(target.plugin_id, target.query.id, status).inc()
        plugin_host.metrics.query_seconds.labels(target.plugin_id, target.query.id).observe(
            time.perf_counter() - started
        )


def _get_only(path: str, endpoint: Callable[[Request], Awaitable[Response]]) -> Route:
    """A plain Starlette GET route (Starlette would answer HEAD too, running the query for nothing)."""
    route = Route(path, endpoint, methods=["GET"])
    route.methods = {"GET"}
    return route


#: The runtime's own routes (the OData service adds its own after them, `endpoints` come last).
router = APIRouter()


async def run_query(request: Request) -> Response:
    ctx = await _authorize_execute(request)
    return await _answer_query(request, _host(request.app).find_query(request.path_params["query_id"]), ctx)


# The query routes are plain Starlette routes: FastAPI's parameter and dependency machinery, which
# these handlers do not use, cost about a tenth of a small query's time in the runtime (measured).
router.routes.append(_get_only("/queries/{query_id}", run_query))


@router.get("/queries/{query_id}/translate")
async def translate(query_id: str, request: Request) -> dict[str, Any]:
    ctx = await _authorize_execute(request)
    plugin_host = _host(request.app)
    target = plugin_host.find_query(query_id)
    params = odata.parse_params(request.query_params.multi_items())
    translation, processed = await plugin_host.translate(target, ctx, params)
    preview: dict[str, Any] = jsonable_encoder(
        {
            "language": translation.language,
            "query": translation.query,
            "endpoint": translation.endpoint,
            "options": processed.to_query(),  # what the adapter translated, after preprocessing
        }
    )
    return preview


@router.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "alive"}


@router.get("/health/ready")
async def ready(request: Request) -> JSONResponse:
    """For kubelet's readiness probe (no token): up or down, nothing else."""
    body = await _host(request.app).health_overview()
    status_code = health.http_status(body["status"])
    return JSONResponse({"status": "ready" if status_code == 200 else "not ready"}, status_code=status_code)


@router.get("/health")
async def overview(request: Request) -> JSONResponse:
    await _authenticate(request)
    body = await _host(request.app).health_overview()
    return JSONResponse(body, status_code=health.http_status(body["status"]))


@router.get("/plugins/{plugin_id}/health")
async def plugin_health(plugin_id: str, request: Request) -> JSONResponse:
    await _authenticate(request)
    plugin_host = _host(request.app)
    body = await plugin_host.health_document(plugin_host.slot(plugin_id))
    return JSONResponse(body, status_code=health.http_status(body["status"]))


@router.get("/metadata")
async def describe(request: Request, plugin: str | None = None) -> dict[str, Any]:
    """What is hosted; `?plugin=<id>`: that plugin alone (and its load errors)."""
    await _authenticate(request)
    return _host(request.app).describe(plugin)


@router.get("/$metadata")
async def csdl(request: Request) -> Response:
    await _authenticate(request)
    return service.metadata_response(request, metadata.document(await _host(request.app).catalogue()))


@router.get("/metrics")
async def scrape(request: Request) -> Response:
    body, content_type = _host(request.app).metrics.render()
    return Response(body, media_type=content_type)


@router.post("/admin/plugins/{plugin_id}/{action}")
async def toggle(plugin_id: str, action: Literal["enable", "disable"], request: Request) -> dict[str, Any]:
    _require_admin(request)
    slot = _host(request.app).set_enabled(plugin_id, action == "enable")
    return {"plugin_id": slot.plugin_id, "enabled": slot.enabled, "state": str(slot.state)}


@router.put("/admin/plugins/{plugin_id}")
async def put_plugin(plugin_id: str, request: Request) -> dict[str, Any]:
    """Add or replace one plugin, its neighbours untouched (a shared runtime's member, see the operator's
    `pooling`); answers the slot's state, with the load error when the new entry failed to load."""
    _require_admin(request)
    try:
        plugin = config.RuntimePlugin.model_validate_json(await request.body())
    except ValueError as exc:
        raise errors.InvalidInput(f"invalid plugin entry: {exc}") from None
    if plugin.id != plugin_id:
        raise errors.InvalidInput(f"the entry's id {plugin.id!r} is not {plugin_id!r}")
    slot = await _host(request.app).put_plugin(plugin)
    error = slot.load_error.message if slot.load_error is not None else None
    return {"plugin_id": slot.plugin_id, "state": str(slot.state), "version": slot.spec.version, "load_error": error}


@router.delete("/admin/plugins/{plugin_id}", status_code=204)
async def remove_plugin(plugin_id: str, request: Request) -> Response:
    _require_admin(request)
    await _host(request.app).remove_plugin(plugin_id)
    return Response(status_code=204)


@router.post("/admin/reload")
async def reload(request: Request) -> dict[str, Any]:
    _require_admin(request)
    return await _host(request.app).reload()


#: The queries' own `api_endpoint`s: a catch-all, so it is included after every other route.
endpoints = APIRouter()


async def query_endpoint(request: Request) -> Response:
    """A query's own `api_endpoint`, looked up at request time so reloads can add and remove them."""
    ctx = await _authorize_execute(request)
    path = request.path_params["path"]
    target = _host(request.app).find_endpoint("/" + path)
    if target is None:
        raise errors.NotFound(f"nothing is served at /{path}")
    return await _answer_query(request, target, ctx)


endpoints.routes.append(_get_only("/{path:path}", query_endpoint))
