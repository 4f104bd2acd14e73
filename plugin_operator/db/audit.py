"""The audit log: who did what to which target, and whether it succeeded, was denied or failed.

`detail` is for ids, counts and field names, never for values that could be secrets; callers
(the keystore above all) rely on that and pass no values.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict, Unpack

import sqlalchemy as sa

from plugin_operator.db import paging, records, tables
from plugin_operator.db.transaction import Transaction

_t = tables.audit_log


class Entry(TypedDict):
    """One audit entry as `record` takes it (and `Database.audit`, which passes it on)."""

    actor: str
    action: str
    target: str
    outcome: records.Outcome | str
    detail: NotRequired[Mapping[str, Any] | None]


def record(tx: Transaction, **entry: Unpack[Entry]) -> records.AuditRecord:
    actor, action, target = entry["actor"], entry["action"], entry["target"]
    outcome = records.Outcome(entry["outcome"])
    details = dict(entry.get("detail") or {})
    result = tx.connection.execute(
        sa.insert(_t).values(
            at=tx.now, actor=actor, action=action, target=target, outcome=outcome.value, detail=details
        )
    )
    key = result.inserted_primary_key
    assert key is not None  # an INSERT of one row reports the key it generated
    written = records.AuditRecord(
        id=int(key[0]), at=tx.now, actor=actor, action=action, target=target, outcome=outcome, detail=details
    )
    tx.audited.append(written)
    return written


class AuditFilters(TypedDict, total=False):
    """The filters and page of `list_` (and of `Database.list_audit`, which passes them on)."""

    actor: str | None
    action: str | None
    target: str | None
    outcome: records.Outcome | str | None
    since: datetime.datetime | None
    limit: int
    offset: int


def list_(tx: Transaction, **filters: Unpack[AuditFilters]) -> tuple[list[records.AuditRecord], int]:
    """Newest first; a filter left out (or None) matches everything."""
    conditions: list[sa.ColumnElement[bool]] = []
    given: Mapping[str, object] = filters
    conditions += [_t.c[name] == given[name] for name in ("actor", "action", "target") if given.get(name) is not None]
    outcome = filters.get("outcome")
    if outcome is not None:
        conditions.append(_t.c.outcome == records.Outcome(outcome).value)
    since = filters.get("since")
    if since is not None:
        conditions.append(_t.c.at >= since)
    limit, offset = filters.get("limit", 50), filters.get("offset", 0)
    rows, total = paging.page(tx, _t, conditions, order_by=(_t.c.at.desc(), _t.c.id.desc()), limit=limit, offset=offset)
    return [_to_record(row) for row in rows], total


def _to_record(row: sa.Row[Any]) -> records.AuditRecord:
    return records.AuditRecord(
        id=row.id,
        at=row.at,
        actor=row.actor,
        action=row.action,
        target=row.target,
        outcome=records.Outcome(row.outcome),
        detail=row.detail or {},
    )
