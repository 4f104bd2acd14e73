"""`/api/analytics/v1/gts…` and `/queries`: the GTS entities plugins registered, read from the registry.

GTS ids travel in the path (`~` and dots are legal in a path segment); a malformed one is a 400
naming the broken rule (`params.GtsIdPath`), an unknown well-formed one a 404.
"""

from typing import Annotated

import fastapi

from plugin_operator import db
from plugin_operator.api import schemas, views
from plugin_operator.api.access import Access
from plugin_operator.api.deps import ApiDeps
from plugin_operator.api.params import GtsIdPath, Limit, Offset, Owner
from plugin_operator.security import Role
from plugin_runtime import errors, problems
from plugin_runtime.interface import SecurityCtx


def entity_view(entity: db.EntityRecord) -> schemas.GtsEntityView:
    return schemas.GtsEntityView(
        id=entity.id,
        kind=entity.kind.value,
        state=entity.state.value,
        owner_plugin_id=entity.owner_plugin_id,
        owner_version=entity.owner_version,
        body=views.mask_secrets(entity.body),
        created_at=entity.created_at,
        updated_at=entity.updated_at,
        deprecated_at=entity.deprecated_at,
    )


def router(deps: ApiDeps, access: Access, *, prefix: str) -> fastapi.APIRouter:
    api = fastapi.APIRouter(prefix=prefix, tags=["gts"])
    reader = fastapi.Depends(access.require(Role.READ))

    def _page(
        *, kind: db.EntityKind | None, state: db.EntityState | None, owner: str | None, limit: int, offset: int
    ) -> schemas.GtsEntityPage:
        entities, total = deps.registry.list_entities(kind=kind, state=state, owner=owner, limit=limit, offset=offset)
        return schemas.GtsEntityPage(
            items=[entity_view(entity) for entity in entities], total=total, limit=limit, offset=offset
        )

    @api.get(
        "/gts",
        response_model=schemas.GtsEntityPage,
        responses=problems.responses(400, 401, 403, 503),
        summary="List registered GTS entities (queries and datasources)",
    )
    def list_entities(
        _: Annotated[SecurityCtx, reader],
        kind: db.EntityKind | None = None,
        state: db.EntityState | None = None,
        owner: Owner = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> schemas.GtsEntityPage:
        return _page(kind=kind, state=state, owner=owner, limit=limit, offset=offset)

    @api.get(
        "/gts/{gts_id}",
        response_model=schemas.GtsEntityView,
        responses=problems.responses(400, 401, 403, 404, 503),
        summary="Get one registered GTS entity",
    )
    def get_entity(
        gts_id: GtsIdPath,
        _: Annotated[SecurityCtx, reader],
    ) -> schemas.GtsEntityView:
        entity = deps.registry.get_entity(gts_id)
        if entity is None:
            raise errors.NotFound(f"no GTS entity {gts_id}")
        return entity_view(entity)

    @api.get(
        "/queries",
        response_model=schemas.GtsEntityPage,
        responses=problems.responses(400, 401, 403, 503),
        summary="List the active queries plugins serve",
    )
    def list_queries(
        _: Annotated[SecurityCtx, reader], owner: Owner = None, limit: Limit = 50, offset: Offset = 0
    ) -> schemas.GtsEntityPage:
        return _page(kind=db.EntityKind.QUERY, state=db.EntityState.ACTIVE, owner=owner, limit=limit, offset=offset)

    return api
