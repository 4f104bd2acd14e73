"""The audit log: who did what to which target, and whether it succeeded, was denied or failed.

`detail` is for ids, counts and field names, never for values that could be secrets; callers
(the keystore above all) rely on that and pass no values.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from plugin_operator.db import paging, records, tables
from plugin_operator.db.transaction import Transaction

_t = tables.audit_log


def record(
    tx: Transaction,
    *,
    actor: str,
    action: str,
    target: str,
    outcome: records.Outcome | str,
    detail: Mapping[str, Any] | None = None,
) -> records.AuditRecord:
    outcome = records.Outcome(outcome)
    details = dict(detail or {})
    result = tx.connection.execute(
        sa.insert(_t).values(
            at=tx.now, actor=actor, action=action, target=target, outcome=outcome.value, detail=details
        )
    )
    key = result.inserted_primary_key
    assert key is not None  # an INSERT of one row reports the key it generated
    entry = records.AuditRecord(
        id=int(key[0]), at=tx.now, actor=actor, action=action, target=target, outcome=outcome, detail=details
    )
    tx.audited.append(entry)
    return entry


def list_(
    tx: Transaction,
    *,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    outcome: records.Outcome | str | None = None,
    since: datetime.datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[records.AuditRecord], int]:
    """Newest first."""
    conditions: list[sa.ColumnElement[bool]] = []
    if actor is not None:
        conditions.append(_t.c.actor == actor)
    if action is not None:
        conditions.append(_t.c.action == action)
    if target is not None:
        conditions.append(_t.c.target == target)
    if outcome is not None:
        conditions.append(_t.c.outcome == records.Outcome(outcome).value)
    if since is not None:
        conditions.append(_t.c.at >= since)
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
