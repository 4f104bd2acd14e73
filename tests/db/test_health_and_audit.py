"""Health history (record, latest, dedup, prune by age) and the audit log (rows and structured log lines)."""

from __future__ import annotations

import concurrent.futures
import datetime
import logging
import threading

import pytest

from plugin_operator import db
from plugin_runtime import errors

from . import samples
from .conftest import START, ManualClock


def _at(minutes: int) -> datetime.datetime:
    return START + datetime.timedelta(minutes=minutes)


def test_health_is_recorded_newest_first_and_deduplicated(any_database: db.Database) -> None:
    any_database.upsert_plugin(samples.plugin("prom"), actor="operator")
    any_database.upsert_plugin(samples.plugin("es"), actor="operator")
    probe = {"status": "healthy", "response_time_ms": 12, "metrics": {"up": 1}}
    first = any_database.record_health("prom", checked_at=_at(0), **probe)  # type: ignore[arg-type]
    any_database.record_health("prom", checked_at=_at(2), status="unhealthy", error_message="backend down")
    any_database.record_health("prom", checked_at=_at(1), status="degraded", response_time_ms=900)
    any_database.record_health("es", checked_at=_at(5), status="healthy")

    again = any_database.record_health("prom", checked_at=_at(0), **probe)  # type: ignore[arg-type]

    assert again == first
    assert (first.plugin_id, first.status, first.response_time_ms, first.metrics) == ("prom", "healthy", 12, {"up": 1})
    history, total = any_database.health_history("prom", limit=10)
    assert total == 3
    assert [(h.checked_at, h.status) for h in history] == [
        (_at(2), "unhealthy"),
        (_at(1), "degraded"),
        (_at(0), "healthy"),
    ]
    assert history[0].error_message == "backend down"
    assert [h.status for h in any_database.health_history("prom", limit=2)[0]] == ["unhealthy", "degraded"]
    assert any_database.health_history("prom", limit=1, offset=1) == ([history[1]], 3)
    assert any_database.health_history("prom", since=_at(1)) == (history[:2], 2)
    assert any_database.latest_health("prom") == history[0]
    assert any_database.latest_health("es").checked_at == _at(5)  # type: ignore[union-attr]


def test_health_of_unknown_plugin_is_not_found(database: db.Database) -> None:
    with pytest.raises(errors.NotFound, match="ghost"):
        database.record_health("ghost", checked_at=START, status="healthy")
    assert database.latest_health("ghost") is None
    assert database.health_history("ghost") == ([], 0)


def test_prune_deletes_by_age_only(database: db.Database) -> None:
    database.upsert_plugin(samples.plugin("prom"), actor="operator")
    database.upsert_plugin(samples.plugin("es"), actor="operator")
    for minute in range(5):
        database.record_health("prom", checked_at=_at(minute), status="healthy")
    database.record_health("es", checked_at=_at(1), status="healthy")

    assert database.prune_health(_at(2)) == 3
    assert database.prune_health(_at(2)) == 0

    assert [h.checked_at for h in database.health_history("prom")[0]] == [_at(4), _at(3), _at(2)]
    assert database.health_history("es") == ([], 0)


def test_audit_rows_and_log_lines(database: db.Database, clock: ManualClock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="audit")
    database.audit(
        actor="alice", action="plugin.disable", target="prom", outcome="success", detail={"reason": "maintenance"}
    )
    clock.advance(seconds=1)
    database.audit(actor="mallory", action="plugin.delete", target="prom", outcome=db.Outcome.DENIED)
    clock.advance(seconds=1)
    database.audit(actor="bob", action="plugin.reload", target="es", outcome="failed")

    entries, total = database.list_audit()
    assert total == 3
    assert [(e.actor, e.outcome) for e in entries] == [
        ("bob", db.Outcome.FAILED),
        ("mallory", db.Outcome.DENIED),
        ("alice", db.Outcome.SUCCESS),
    ]
    assert entries[2].detail == {"reason": "maintenance"}
    assert entries[2].at == START
    assert [e.actor for e in database.list_audit(target="prom")[0]] == ["mallory", "alice"]
    assert [e.actor for e in database.list_audit(outcome="denied")[0]] == ["mallory"]
    assert [e.actor for e in database.list_audit(since=START + datetime.timedelta(seconds=1))[0]] == ["bob", "mallory"]
    assert [e.actor for e in database.list_audit(limit=1, offset=1)[0]] == ["mallory"]

    lines = [record for record in caplog.records if record.name == "audit"]
    assert [line.getMessage() for line in lines] == [
        "alice plugin.disable prom: success",
        "mallory plugin.delete prom: denied",
        "bob plugin.reload es: failed",
    ]
    first = lines[0]
    assert (first.actor, first.action, first.target, first.outcome, first.detail) == (  # type: ignore[attr-defined]
        "alice",
        "plugin.disable",
        "prom",
        "success",
        {"reason": "maintenance"},
    )


def test_audit_of_a_rolled_back_unit_of_work_is_neither_stored_nor_logged(
    database: db.Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="audit")

    def work(tx: db.Transaction) -> None:
        db.audit.record(tx, actor="alice", action="plugin.enable", target="prom", outcome="success")
        raise errors.Conflict("changed concurrently")

    with pytest.raises(errors.Conflict):
        database.run(work)

    assert database.list_audit() == ([], 0)
    assert not [record for record in caplog.records if record.name == "audit"]


def test_unknown_outcome_is_rejected(database: db.Database) -> None:
    with pytest.raises(ValueError, match="maybe"):
        database.audit(actor="alice", action="plugin.enable", target="prom", outcome="maybe")


def test_concurrent_writers_of_one_probe_store_exactly_one_row(database: db.Database) -> None:
    """The unique index (migration 0002) makes the losing writer re-read instead of duplicating."""
    database.upsert_plugin(samples.plugin("race"), actor="operator")
    start = threading.Barrier(8)

    def write(_: int) -> db.HealthRecord:
        start.wait()
        return database.record_health("race", checked_at=_at(7), status="healthy", response_time_ms=3)

    for round_ in range(5):
        checked_at = _at(10 + round_)

        def write_round(_: int, when: datetime.datetime = checked_at) -> db.HealthRecord:
            start.wait()
            return database.record_health("race", checked_at=when, status="healthy", response_time_ms=3)

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            results = list(pool.map(write_round, range(8)))
        assert len({r.id for r in results}) == 1
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert len({r.id for r in pool.map(write, range(8))}) == 1
    assert database.health_history("race", limit=100)[1] == 6
