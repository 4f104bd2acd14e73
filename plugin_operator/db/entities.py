"""`gts_entities`: registered queries and datasources, each with its owning plugin, UID and version.

Only row operations live here; the rules (who may own what, conflicts, adoption) are in
`plugin_operator.registry`, which composes these inside one `Database.run` transaction. `lock`
takes row locks in id order so concurrent registrations queue up rather than deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from plugin_operator.db import paging, records, tables
from plugin_operator.db.transaction import Transaction

_t = tables.gts_entities


def get(tx: Transaction, entity_id: str) -> records.EntityRecord | None:
    row = tx.connection.execute(sa.select(_t).where(_t.c.id == entity_id)).first()
    return None if row is None else _to_record(row)


def lock(tx: Transaction, entity_ids: Iterable[str], *, owner: str | None = None) -> dict[str, records.EntityRecord]:
    """SELECT ... FOR UPDATE the rows among `entity_ids`, plus every row `owner` owns, in id order.

    One statement in one order, so two registrations touching overlapping rows queue up instead of
    deadlocking. Ids without a row are simply absent from the result.
    """
    ids = sorted(set(entity_ids))
    condition: sa.ColumnElement[bool] = _t.c.id.in_(ids)
    if owner is not None:
        condition = sa.or_(condition, _t.c.owner_plugin_id == owner)
    rows = tx.connection.execute(sa.select(_t).where(condition).order_by(_t.c.id).with_for_update())
    return {row.id: _to_record(row) for row in rows}


def owned_by(tx: Transaction, plugin_id: str, *, lock: bool = False) -> list[records.EntityRecord]:
    query = sa.select(_t).where(_t.c.owner_plugin_id == plugin_id).order_by(_t.c.id)
    rows = tx.connection.execute(query.with_for_update() if lock else query)
    return [_to_record(row) for row in rows]


def insert(tx: Transaction, entity: records.EntityRecord) -> None:
    """Insert a row the transaction found absent.

    If a concurrent transaction inserted the same id meanwhile, this fails with a unique violation,
    which `Database.run` turns into a re-run that then sees (and locks) the winner's row. Never
    "update if present": a row this transaction did not lock may belong to someone else by now.
    """
    tx.connection.execute(sa.insert(_t).values(id=entity.id, **_to_values(entity)))


def update(tx: Transaction, entity: records.EntityRecord) -> None:
    """Rewrite a row the transaction holds locked (from `lock` or `owned_by(lock=True)`)."""
    tx.connection.execute(sa.update(_t).where(_t.c.id == entity.id).values(**_to_values(entity)))


def set_state(tx: Transaction, entity_ids: Iterable[str], state: records.EntityState) -> None:
    """Move entities to `state`; leaving `active` stamps `deprecated_at` once (the first time)."""
    ids = sorted(set(entity_ids))
    if not ids:
        return
    now = sa.literal(tx.now, tables.UtcDateTime())
    deprecated_at: Any = None if state is records.EntityState.ACTIVE else sa.func.coalesce(_t.c.deprecated_at, now)
    tx.connection.execute(
        sa.update(_t).where(_t.c.id.in_(ids)).values(state=state.value, updated_at=tx.now, deprecated_at=deprecated_at)
    )


def list_(
    tx: Transaction,
    *,
    kind: records.EntityKind | str | None = None,
    state: records.EntityState | str | None = None,
    owner: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[records.EntityRecord], int]:
    conditions: list[sa.ColumnElement[bool]] = []
    if kind is not None:
        conditions.append(_t.c.kind == records.EntityKind(kind).value)
    if state is not None:
        conditions.append(_t.c.state == records.EntityState(state).value)
    if owner is not None:
        conditions.append(_t.c.owner_plugin_id == owner)
    rows, total = paging.page(tx, _t, conditions, order_by=(_t.c.id,), limit=limit, offset=offset)
    return [_to_record(row) for row in rows], total


def _to_values(entity: records.EntityRecord) -> dict[str, Any]:
    return {
        "kind": entity.kind.value,
        "owner_plugin_id": entity.owner_plugin_id,
        "owner_uid": entity.owner_uid,
        "owner_version": entity.owner_version,
        "body": entity.body,
        "state": entity.state.value,
        "created_at": entity.created_at,
        "updated_at": entity.updated_at,
        "deprecated_at": entity.deprecated_at,
    }


def _to_record(row: sa.Row[Any]) -> records.EntityRecord:
    return records.EntityRecord(
        id=row.id,
        kind=records.EntityKind(row.kind),
        owner_plugin_id=row.owner_plugin_id,
        owner_uid=row.owner_uid,
        owner_version=row.owner_version,
        body=row.body,
        state=records.EntityState(row.state),
        created_at=row.created_at,
        updated_at=row.updated_at,
        deprecated_at=row.deprecated_at,
    )
