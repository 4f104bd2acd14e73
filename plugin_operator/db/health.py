"""`plugin_health`: the history of probe results, newest first, pruned by age.

A probe result is identified by (plugin, checked_at): recording the same one twice (a retried
reconcile) returns the stored row instead of adding a duplicate.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict, Unpack

import sqlalchemy as sa

from plugin_operator.db import paging, plugins, records, tables
from plugin_operator.db.transaction import Transaction

_t = tables.plugin_health


class Probe(TypedDict):
    """One probe result as `record` takes it (and `Database.record_health`, which passes it on)."""

    checked_at: datetime.datetime
    status: str
    response_time_ms: NotRequired[int | None]
    error_message: NotRequired[str | None]
    metrics: NotRequired[Mapping[str, Any] | None]


def record(tx: Transaction, plugin_id: str, **probe: Unpack[Probe]) -> records.HealthRecord:
    checked_at, status = probe["checked_at"], probe["status"]
    plugins.require(tx, plugin_id)
    same = tx.connection.execute(
        sa.select(_t).where(_t.c.plugin_id == plugin_id, _t.c.checked_at == checked_at).limit(1)
    ).first()
    if same is not None:
        return _to_record(same)
    values = {
        "plugin_id": plugin_id,
        "checked_at": checked_at,
        "status": status.value if isinstance(status, enum.Enum) else status,
        "response_time_ms": probe.get("response_time_ms"),
        "error_message": probe.get("error_message"),
        "metrics": dict(probe.get("metrics") or {}),
    }
    result = tx.connection.execute(sa.insert(_t).values(**values).returning(*_t.c))
    return _to_record(result.one())


def latest(tx: Transaction, plugin_id: str) -> records.HealthRecord | None:
    found, _ = history(tx, plugin_id, limit=1)
    return found[0] if found else None


def history(
    tx: Transaction,
    plugin_id: str,
    *,
    since: datetime.datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[records.HealthRecord], int]:
    """A page of the plugin's probe results checked at or after `since`, newest first, and the total."""
    conditions = [_t.c.plugin_id == plugin_id]
    if since is not None:
        conditions.append(_t.c.checked_at >= since)
    rows, total = paging.page(
        tx, _t, conditions, order_by=(_t.c.checked_at.desc(), _t.c.id.desc()), limit=limit, offset=offset
    )
    return [_to_record(row) for row in rows], total


def prune(tx: Transaction, *, older_than: datetime.datetime) -> int:
    """Delete results checked before `older_than`; returns how many went."""
    result = tx.connection.execute(sa.delete(_t).where(_t.c.checked_at < older_than))
    return int(result.rowcount)


def _to_record(row: sa.Row[Any]) -> records.HealthRecord:
    values = dict(row._mapping)
    values["metrics"] = values["metrics"] or {}
    return records.HealthRecord(**values)
