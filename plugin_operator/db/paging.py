"""Limit/offset listing with a total, the shape every list endpoint of the API returns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from plugin_operator.db.transaction import Transaction
from plugin_runtime import errors

MAX_LIMIT = 1000


def check(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise errors.InvalidInput(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    if offset < 0:
        raise errors.InvalidInput(f"offset must not be negative, got {offset}")


def page(
    tx: Transaction,
    table: sa.Table,
    conditions: Sequence[sa.ColumnElement[bool]],
    *,
    order_by: Sequence[sa.ColumnElement[Any]],
    limit: int,
    offset: int,
) -> tuple[list[sa.Row[Any]], int]:
    """One page of `table` rows matching all `conditions`, and how many match in total."""
    check(limit, offset)
    where = sa.and_(sa.true(), *conditions)
    total = tx.connection.execute(sa.select(sa.func.count()).select_from(table).where(where)).scalar_one()
    rows = tx.connection.execute(sa.select(table).where(where).order_by(*order_by).limit(limit).offset(offset)).all()
    return list(rows), int(total)
