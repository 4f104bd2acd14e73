"""The `plugins` table: a mirror of each Plugin CR, kept (with `removed_at`) after the CR is gone.

Writes are idempotent: re-reconciling an unchanged CR writes nothing, so `updated_at` and the
audit log record real changes only.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any, TypedDict, Unpack

import sqlalchemy as sa

from plugin_operator.db import audit, paging, records, tables
from plugin_operator.db.transaction import Transaction
from plugin_runtime import errors

_t = tables.plugins

#: Columns that mirror the CR's spec and metadata; `upsert` writes these and only these on update.
MIRRORED = (
    "name",
    "version",
    "author",
    "description",
    "contract_format",
    "enabled",
    "config",
    "namespace",
    "cr_name",
    "uid",
)
#: Columns the operator observes; `update_status` writes them, `upsert` only seeds them on insert.
OBSERVED = ("phase", "serving_version", "endpoint", "status")


def get(tx: Transaction, plugin_id: str, *, lock: bool = False) -> records.PluginRecord | None:
    query = sa.select(_t).where(_t.c.id == plugin_id)
    row = tx.connection.execute(query.with_for_update() if lock else query).first()
    return None if row is None else _to_record(row)


def require(tx: Transaction, plugin_id: str, *, lock: bool = False) -> records.PluginRecord:
    found = get(tx, plugin_id, lock=lock)
    if found is None:
        raise errors.NotFound(f"plugin {plugin_id!r} not found", plugin_id=plugin_id)
    return found


def upsert(tx: Transaction, row: records.PluginRecord, *, actor: str) -> records.PluginRecord:
    """Insert the plugin or bring its mirrored columns up to date; a re-created CR clears `removed_at`."""
    desired = {column: _column_value(row, column) for column in MIRRORED}
    current = get(tx, row.id, lock=True)
    if current is None:
        observed = {column: _column_value(row, column) for column in OBSERVED}
        tx.connection.execute(
            sa.insert(_t).values(id=row.id, **desired, **observed, registered_at=tx.now, registered_by=actor)
        )
        audit.record(
            tx, actor=actor, action="plugin.create", target=row.id, outcome="success", detail={"version": row.version}
        )
        return require(tx, row.id)
    changed = [column for column in MIRRORED if _column_value(current, column) != desired[column]]
    if current.removed_at is not None:
        changed.append("removed_at")
    if changed:
        tx.connection.execute(
            sa.update(_t)
            .where(_t.c.id == row.id)
            .values(**desired, removed_at=None, updated_at=tx.now, updated_by=actor)
        )
        audit.record(
            tx, actor=actor, action="plugin.update", target=row.id, outcome="success", detail={"changed": changed}
        )
    return require(tx, row.id)


def update_status(
    tx: Transaction,
    plugin_id: str,
    *,
    phase: str | None,
    serving_version: str | None,
    endpoint: str | None,
    status: Mapping[str, Any] | None,
) -> records.PluginRecord:
    """Store what the operator last observed; not an admin change, so `updated_at`/`updated_by` stay."""
    current = require(tx, plugin_id, lock=True)
    values = {
        "phase": _plain(phase),
        "serving_version": serving_version,
        "endpoint": endpoint,
        "status": dict(status or {}),
    }
    if any(getattr(current, column) != value for column, value in values.items()):
        tx.connection.execute(sa.update(_t).where(_t.c.id == plugin_id).values(**values))
        return dataclasses.replace(current, **values)
    return current


def mark_removed(tx: Transaction, plugin_id: str, *, actor: str) -> records.PluginRecord:
    """The CR is gone: keep the row for history, stamped with when and by whom."""
    current = require(tx, plugin_id, lock=True)
    if current.removed_at is not None:
        return current
    tx.connection.execute(
        sa.update(_t).where(_t.c.id == plugin_id).values(removed_at=tx.now, updated_at=tx.now, updated_by=actor)
    )
    audit.record(tx, actor=actor, action="plugin.remove", target=plugin_id, outcome="success")
    return dataclasses.replace(current, removed_at=tx.now, updated_at=tx.now, updated_by=actor)


class PluginFilters(TypedDict, total=False):
    """The filters and page of `list_` (and of `Database.list_plugins`, which passes them on)."""

    enabled: bool | None
    phase: str | None
    contract_format: str | None
    include_removed: bool
    limit: int
    offset: int


def list_(tx: Transaction, **filters: Unpack[PluginFilters]) -> tuple[list[records.PluginRecord], int]:
    """A page of plugins ordered by id, and the total matching the filters (None matches everything)."""
    conditions: list[sa.ColumnElement[bool]] = []
    given: Mapping[str, object] = filters
    conditions += [
        _t.c[name] == given[name] for name in ("enabled", "phase", "contract_format") if given.get(name) is not None
    ]
    if not filters.get("include_removed", False):
        conditions.append(_t.c.removed_at.is_(None))
    limit, offset = filters.get("limit", 50), filters.get("offset", 0)
    rows, total = paging.page(tx, _t, conditions, order_by=(_t.c.id,), limit=limit, offset=offset)
    return [_to_record(row) for row in rows], total


def _column_value(record: records.PluginRecord, column: str) -> Any:
    return _plain(getattr(record, column))


def _plain(value: Any) -> Any:
    """StrEnum members (ContractFormat, Phase) are stored, and compared, as their plain value."""
    return value.value if isinstance(value, enum.Enum) else value


def _to_record(row: sa.Row[Any]) -> records.PluginRecord:
    values = dict(row._mapping)
    values["config"] = values["config"] or {}
    values["status"] = values["status"] or {}
    return records.PluginRecord(**values)
