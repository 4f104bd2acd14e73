"""`/api/analytics/v1/plugins…`: read plugins, their live health and translations; ask for changes.

The API never changes a runtime itself: enable/disable/reload/delete are changes to the Plugin CR
(spec.enabled, the reload annotation, deletion) that the operator reconciles. Responses say so:
`pending: true` until the operator has observed the change, 202 for reload and delete.

Handlers are plain `def`: the Kubernetes client, the repository and the runtime HTTP client are
synchronous, so FastAPI runs each request in its thread pool. (No `from __future__ import
annotations` in route modules: FastAPI evaluates the `Annotated[..., Depends(...)]` hints.)
"""

from typing import Annotated, Literal

import fastapi

from plugin_operator import db, models, permissions
from plugin_operator.api import lookup, runtime_calls, schemas, views
from plugin_operator.api.access import Auditor, AuditorDep, Reader, require
from plugin_operator.api.deps import PREFIX, ApiDeps, Deps
from plugin_operator.api.params import (
    FORWARDS_OTHER_OPTIONS,
    ORDERBY_PATTERN,
    SELECT_PATTERN,
    Limit,
    Offset,
    PluginId,
    QueryIdParam,
)
from plugin_operator.security import Role
from plugin_runtime import errors, odata, problems
from plugin_runtime.interface import ContractFormat, HealthState, SecurityCtx

_FAILING = (HealthState.UNHEALTHY, HealthState.UNKNOWN)


router = fastapi.APIRouter(prefix=PREFIX, tags=["plugins"])


@router.get(
    "/plugins",
    response_model=schemas.PluginPage,
    responses=problems.responses(400, 401, 403, 503),
    summary="List plugins",
)
def list_plugins(
    _: Reader,
    deps: Deps,
    enabled: bool | None = None,
    phase: models.Phase | None = None,
    contract_format: ContractFormat | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> schemas.PluginPage:
    crs = sorted(lookup.list_crs(deps), key=lambda cr: (views.plugin_id_of(cr), cr["metadata"].get("namespace", "")))
    selected = [
        cr
        for cr in crs
        if views.matches(views.plugin_view(cr), enabled=enabled, phase=phase, contract_format=contract_format)
    ]
    shown = views.page(selected, limit=limit, offset=offset)
    ids = {views.plugin_id_of(cr) for cr in shown}
    recorded = deps.database.run(
        lambda tx: {plugin_id: (db.plugins.get(tx, plugin_id), db.health.latest(tx, plugin_id)) for plugin_id in ids}
    )
    items = [views.plugin_view(cr, *recorded[views.plugin_id_of(cr)]) for cr in shown]
    return schemas.PluginPage(items=items, total=len(selected), limit=limit, offset=offset)


@router.get(
    "/plugins/{plugin_id}",
    response_model=schemas.PluginView,
    responses=problems.responses(400, 401, 403, 404, 409, 503),
    summary="Get a plugin",
)
def get_plugin(plugin_id: PluginId, _: Reader, deps: Deps) -> schemas.PluginView:
    located = lookup.locate(deps, plugin_id)
    return views.plugin_view(located.cr, located.record, deps.database.latest_health(plugin_id))


@router.get(
    "/plugins/{plugin_id}/health",
    response_model=schemas.HealthDocument,
    responses=problems.responses(400, 401, 403, 404, 409, 503),
    summary="Plugin health: live from its runtime, else the last recorded health marked stale",
)
def plugin_health(plugin_id: PluginId, _: Reader, deps: Deps) -> schemas.HealthDocument:
    located = lookup.locate(deps, plugin_id)
    endpoint = (located.cr.get("status") or {}).get("endpoint")
    document = None
    if endpoint:
        live = runtime_calls.fetch_health(deps.http, endpoint, plugin_id, timeout=deps.runtime_timeout)
        document = views.live_health(plugin_id, live) if live is not None else None
    if document is None:
        document = views.recorded_health(plugin_id, located.cr, deps.database.latest_health(plugin_id))
    if document.status in _FAILING:
        raise errors.PluginUnavailable(
            f"Plugin '{plugin_id}' health check failed", health=document.model_dump(mode="json")
        )
    return document


@router.get(
    "/plugins/{plugin_id}/translate",
    response_model=schemas.Translation,
    responses=problems.responses(400, 401, 403, 404, 409, 501, 502, 503),
    summary="The backend query the adapter would run for these OData options (nothing is executed)",
    description="Other query options (e.g. `step=60s` for Prometheus) are passed to the adapter as sent.",
    openapi_extra={FORWARDS_OTHER_OPTIONS: True},
)
def translate(
    request: fastapi.Request,
    plugin_id: PluginId,
    _: Reader,
    deps: Deps,
    query_id: QueryIdParam,
    # The OData options are declared for the document and type checks; they are forwarded as sent.
    filter_: Annotated[
        str | None, fastapi.Query(alias="$filter", max_length=8192, description="OData $filter expression")
    ] = None,
    select: Annotated[str | None, fastapi.Query(alias="$select", max_length=2048, pattern=SELECT_PATTERN)] = None,
    orderby: Annotated[str | None, fastapi.Query(alias="$orderby", max_length=2048, pattern=ORDERBY_PATTERN)] = None,
    top: Annotated[int | None, fastapi.Query(alias="$top", ge=0, le=odata.MAX_TOP)] = None,
    skip: Annotated[int | None, fastapi.Query(alias="$skip", ge=0)] = None,
    count: Annotated[Literal["true", "false"] | None, fastapi.Query(alias="$count")] = None,
) -> schemas.Translation:
    options = [(key, value) for key, value in request.query_params.multi_items() if key != "query_id"]
    odata.parse_params(options)  # malformed OData is refused here, before any runtime is asked
    located = lookup.locate(deps, plugin_id)
    served = {query.get("id") for query in (located.cr.get("spec") or {}).get("queries") or []}
    if query_id not in served:
        raise errors.NotFound(f"plugin {plugin_id!r} does not serve the query {query_id}")
    endpoint = (located.cr.get("status") or {}).get("endpoint")
    if not endpoint:
        raise errors.PluginUnavailable(f"plugin {plugin_id!r} has no running runtime")
    body = runtime_calls.translate(
        deps.http,
        endpoint,
        plugin_id=plugin_id,
        query_id=query_id,
        options=dict(options),
        timeout=deps.runtime_timeout,
    )
    return schemas.Translation(
        plugin_id=plugin_id,
        query_id=query_id,
        language=str(body["language"]),
        query=body["query"],
        endpoint=body.get("endpoint"),
    )


def _set_enabled(
    deps: ApiDeps, auditor: Auditor, plugin_id: str, ctx: SecurityCtx, enabled: bool
) -> schemas.PluginView:
    with lookup.changing(deps, auditor, ctx, "enable" if enabled else "disable", plugin_id) as located:
        patched = deps.kube.patch_plugin(located.namespace, located.name, {"spec": {"enabled": enabled}})
        return views.plugin_view(patched, located.record, deps.database.latest_health(plugin_id))


@router.put(
    "/plugins/{plugin_id}/enable",
    response_model=schemas.PluginView,
    responses=problems.responses(400, 401, 403, 404, 409, 503),
    summary="Enable a plugin (spec.enabled=true); the operator activates it",
)
def enable(
    plugin_id: PluginId,
    ctx: Annotated[SecurityCtx, fastapi.Depends(require(Role.WRITE, action="enable"))],
    deps: Deps,
    auditor: AuditorDep,
) -> schemas.PluginView:
    return _set_enabled(deps, auditor, plugin_id, ctx, True)


@router.put(
    "/plugins/{plugin_id}/disable",
    response_model=schemas.PluginView,
    responses=problems.responses(400, 401, 403, 404, 409, 503),
    summary="Disable a plugin (spec.enabled=false): no new queries, in-flight ones finish",
)
def disable(
    plugin_id: PluginId,
    ctx: Annotated[SecurityCtx, fastapi.Depends(require(Role.WRITE, action="disable"))],
    deps: Deps,
    auditor: AuditorDep,
) -> schemas.PluginView:
    return _set_enabled(deps, auditor, plugin_id, ctx, False)


@router.post(
    "/plugins/{plugin_id}/reload",
    status_code=202,
    response_model=schemas.ActionAccepted,
    responses=problems.responses(400, 401, 403, 404, 409, 503),
    summary="Re-read config and secrets; the runtime re-initialises without dropping in-flight queries",
)
def reload(
    plugin_id: PluginId,
    ctx: Annotated[SecurityCtx, fastapi.Depends(require(Role.WRITE, action="reload"))],
    deps: Deps,
    auditor: AuditorDep,
) -> schemas.ActionAccepted:
    with lookup.changing(deps, auditor, ctx, "reload", plugin_id) as located:
        _check_reloadable(located)
        now = lookup.annotate_now(deps, located, models.RELOAD_ANNOTATION)
    return schemas.ActionAccepted(plugin_id=plugin_id, action="reload", requested_at=now, requested_by=ctx.subject)


def _check_reloadable(located: lookup.Located) -> None:
    """A reload of a serving plugin reconfigures its runtime in place, which needs `admin`; refused
    here, before anything is written, rather than accepted and then refused by the operator. (A
    plugin whose rollout failed is retried by a reload, which needs no permission.)"""
    phase = (located.cr.get("status") or {}).get("phase")
    if phase != models.Phase.FAILED and not permissions.may_reload(permissions.granted(located.cr.get("spec") or {})):
        raise errors.Conflict(
            f"plugin {located.plugin_id!r} does not allow in-place reconfiguration: spec.permissions lacks admin; "
            "change the spec to roll out a new runtime, or add admin to spec.permissions"
        )


@router.delete(
    "/plugins/{plugin_id}",
    status_code=202,
    response_model=schemas.ActionAccepted,
    responses=problems.responses(400, 401, 403, 404, 409, 503),
    summary="Unregister a plugin: its Plugin resource is deleted and the operator deregisters its entities",
)
def delete(
    plugin_id: PluginId,
    ctx: Annotated[SecurityCtx, fastapi.Depends(require(Role.ADMIN, action="delete"))],
    deps: Deps,
    auditor: AuditorDep,
) -> schemas.ActionAccepted:
    with lookup.changing(deps, auditor, ctx, "delete", plugin_id) as located:
        deps.kube.delete_plugin(located.namespace, located.name)
    return schemas.ActionAccepted(
        plugin_id=plugin_id, action="delete", requested_at=deps.clock(), requested_by=ctx.subject
    )
