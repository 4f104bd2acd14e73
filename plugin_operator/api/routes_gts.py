"""`/api/analytics/v1/gts…` and `/queries`: the GTS entities plugins registered, read from the registry.

GTS ids travel in the path (`~` and dots are legal in a path segment); a malformed one is a 400
naming the broken rule (`params.GtsIdPath`), an unknown well-formed one a 404.
"""

import fastapi

from plugin_operator import db
from plugin_operator.api import lookup, schemas, views
from plugin_operator.api.access import Reader
from plugin_operator.api.deps import PREFIX, ApiDeps, Deps
from plugin_operator.api.params import GtsIdPath, Limit, Offset, Owner
from plugin_runtime import errors, problems


def entity_view(entity: db.EntityRecord, *, endpoint: str | None = None) -> schemas.GtsEntityView:
    adapter_id = entity.body.get("adapter_id") if entity.kind is db.EntityKind.QUERY else None
    return schemas.GtsEntityView(
        id=entity.id,
        kind=entity.kind.value,
        state=entity.state.value,
        owner_plugin_id=entity.owner_plugin_id,
        owner_version=entity.owner_version,
        adapter_id=str(adapter_id) if adapter_id else entity.owner_plugin_id,
        endpoint=endpoint,
        body=views.mask_secrets(entity.body),
        created_at=entity.created_at,
        updated_at=entity.updated_at,
        deprecated_at=entity.deprecated_at,
    )


def _endpoint(deps: ApiDeps, plugin_id: str | None) -> str | None:
    """The owning plugin's stable URL, from its CR status (none when it is gone or serves nothing)."""
    if plugin_id is None:
        return None
    try:
        located = lookup.locate(deps, plugin_id)
    except (errors.NotFound, errors.Conflict):
        return None
    endpoint = (located.cr.get("status") or {}).get("serviceEndpoint")
    return str(endpoint) if endpoint else None


router = fastapi.APIRouter(prefix=PREFIX, tags=["gts"])


def _page(
    deps: ApiDeps,
    *,
    kind: db.EntityKind | None,
    state: db.EntityState | None,
    owner: str | None,
    limit: int,
    offset: int,
) -> schemas.GtsEntityPage:
    entities, total = deps.registry.list_entities(kind=kind, state=state, owner=owner, limit=limit, offset=offset)
    return schemas.GtsEntityPage(
        items=[entity_view(entity) for entity in entities], total=total, limit=limit, offset=offset
    )


@router.get(
    "/gts",
    response_model=schemas.GtsEntityPage,
    responses=problems.responses(400, 401, 403, 503),
    summary="List registered GTS entities (queries and datasources)",
)
def list_entities(
    _: Reader,
    deps: Deps,
    kind: db.EntityKind | None = None,
    state: db.EntityState | None = None,
    owner: Owner = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> schemas.GtsEntityPage:
    return _page(deps, kind=kind, state=state, owner=owner, limit=limit, offset=offset)


@router.get(
    "/gts/{gts_id}",
    response_model=schemas.GtsEntityView,
    responses=problems.responses(400, 401, 403, 404, 503),
    summary="Get one registered GTS entity",
)
def get_entity(
    gts_id: GtsIdPath,
    _: Reader,
    deps: Deps,
) -> schemas.GtsEntityView:
    entity = deps.registry.get_entity(gts_id)
    if entity is None:
        raise errors.NotFound(f"no GTS entity {gts_id}")
    return entity_view(entity, endpoint=_endpoint(deps, entity.owner_plugin_id))


@router.get(
    "/queries",
    response_model=schemas.GtsEntityPage,
    responses=problems.responses(400, 401, 403, 503),
    summary="List the active queries plugins serve",
)
def list_queries(
    _: Reader, deps: Deps, owner: Owner = None, limit: Limit = 50, offset: Offset = 0
) -> schemas.GtsEntityPage:
    return _page(deps, kind=db.EntityKind.QUERY, state=db.EntityState.ACTIVE, owner=owner, limit=limit, offset=offset)
