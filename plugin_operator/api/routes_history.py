"""What the operator recorded: a plugin's health-check history and the audit log of actions.

Both read the database only (nothing live): `plugin_health` rows as the health monitor wrote them,
and `audit_log` rows. The audit log names actors and targets, so it is for admins only. Both are
pages like every list of the API (`items`, `total`, `limit`, `offset`), newest first; `since`
takes an RFC 3339 time with its offset (a time without one is ambiguous and refused).
"""

import datetime
from typing import Annotated

import fastapi
import pydantic

from plugin_operator import db
from plugin_operator.api import lookup, schemas, views
from plugin_operator.api.access import Reader, require
from plugin_operator.api.deps import PREFIX, Deps
from plugin_operator.api.params import Limit, Offset, PluginId
from plugin_operator.security import Role
from plugin_runtime import problems
from plugin_runtime.interface import SecurityCtx


def _in_utc(value: datetime.datetime) -> datetime.datetime:
    try:
        return value.astimezone(datetime.UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00: before the first representable instant
        raise ValueError("the time is out of range") from None


Since = Annotated[
    pydantic.AwareDatetime | None,
    fastapi.Query(description="Only entries at or after this time (RFC 3339, with an offset)."),
    pydantic.AfterValidator(lambda value: None if value is None else _in_utc(value)),
]
_Text = Annotated[str | None, fastapi.Query(max_length=255)]

router = fastapi.APIRouter(prefix=PREFIX)


@router.get(
    "/plugins/{plugin_id}/health/history",
    response_model=schemas.HealthHistoryPage,
    responses=problems.responses(400, 401, 403, 404, 503),
    summary="A plugin's recorded health checks, newest first",
    tags=["plugins"],
)
def health_history(
    plugin_id: PluginId,
    _: Reader,
    deps: Deps,
    since: Since = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> schemas.HealthHistoryPage:
    lookup.require_known(deps, plugin_id)
    rows, total = deps.database.health_history(plugin_id, since=since, limit=limit, offset=offset)
    return schemas.HealthHistoryPage(
        plugin_id=plugin_id, items=[views.health_record(row) for row in rows], total=total, limit=limit, offset=offset
    )


@router.get(
    "/audit",
    response_model=schemas.AuditPage,
    responses=problems.responses(400, 401, 403, 503),
    summary="The audit log: who did what to which target, and the outcome; newest first",
    tags=["audit"],
)
def list_audit(
    _: Annotated[SecurityCtx, fastapi.Depends(require(Role.ADMIN))],
    deps: Deps,
    actor: _Text = None,
    action: _Text = None,
    target: Annotated[str | None, fastapi.Query(max_length=255, description="Usually a plugin id")] = None,
    outcome: db.Outcome | None = None,
    since: Since = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> schemas.AuditPage:
    rows, total = deps.database.list_audit(
        actor=actor, action=action, target=target, outcome=outcome, since=since, limit=limit, offset=offset
    )
    return schemas.AuditPage(items=[views.audit_entry(row) for row in rows], total=total, limit=limit, offset=offset)
