"""`Database.run`: one transaction per unit of work, re-run when it loses a race, bounded."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from plugin_operator import db
from plugin_runtime import errors

from . import samples


def test_a_unit_of_work_that_keeps_colliding_gives_up_with_concurrent_update(any_database: db.Database) -> None:
    any_database.upsert_plugin(samples.plugin("prom"), actor="operator")
    attempts: list[int] = []

    def insert_duplicate(tx: db.Transaction) -> None:
        attempts.append(1)
        db.audit.record(tx, actor="operator", action="test", target="prom", outcome="success")
        tx.connection.execute(
            sa.insert(db.tables.plugins).values(id="prom", name="dup", version="1", registered_at=tx.now)
        )

    with pytest.raises(db.ConcurrentUpdate) as raised:
        any_database.run(insert_duplicate, attempts=3)

    assert len(attempts) == 3
    assert isinstance(raised.value, errors.Conflict)
    assert any_database.list_audit(action="test") == ([], 0)


def test_a_unit_of_work_is_atomic(any_database: db.Database) -> None:
    def create_then_fail(tx: db.Transaction) -> None:
        db.plugins.upsert(tx, samples.plugin("prom"), actor="operator")
        raise errors.InvalidInput("changed my mind")

    with pytest.raises(errors.InvalidInput):
        any_database.run(create_then_fail)

    assert any_database.get_plugin("prom") is None
    assert any_database.list_audit() == ([], 0)
