"""The `plugins` mirror: idempotent upserts, removal kept as history, filters and paging."""

from __future__ import annotations

import dataclasses
import datetime

import pytest
import sqlalchemy

from plugin_operator import db
from plugin_operator.models import Phase
from plugin_runtime import errors
from plugin_runtime.interface import ContractFormat

from . import samples
from .conftest import START, ManualClock


def test_insert_sets_registration_and_is_audited(any_database: db.Database) -> None:
    row = samples.plugin("prom", phase="Loaded", status={"phase": "Loaded"})
    stored = any_database.upsert_plugin(row, actor="alice")

    assert stored.registered_at == START
    assert stored.registered_by == "alice"
    assert (stored.updated_at, stored.updated_by, stored.removed_at) == (None, None, None)
    assert stored.config == {"base_url": "http://prometheus:9090"}
    assert (stored.phase, stored.status) == ("Loaded", {"phase": "Loaded"})
    assert any_database.get_plugin("prom") == stored
    entries, total = any_database.list_audit(target="prom")
    assert total == 1
    assert (entries[0].actor, entries[0].action, entries[0].outcome) == ("alice", "plugin.create", db.Outcome.SUCCESS)


def test_re_upserting_the_same_cr_writes_nothing(any_database: db.Database, clock: ManualClock) -> None:
    first = any_database.upsert_plugin(samples.plugin("prom"), actor="operator")
    clock.advance(minutes=5)

    again = any_database.upsert_plugin(samples.plugin("prom"), actor="operator")

    assert again == first
    assert again.updated_at is None
    assert any_database.list_plugins()[1] == 1
    assert any_database.list_audit(target="prom")[1] == 1


def test_a_changed_cr_updates_mirrored_columns_but_not_the_registration(
    any_database: db.Database, clock: ManualClock
) -> None:
    any_database.upsert_plugin(samples.plugin("prom", phase="Active"), actor="alice")
    any_database.update_plugin_status(
        "prom", phase="Active", serving_version="1.0.0", endpoint="http://x", status_json={}
    )
    later = clock.advance(hours=1)

    updated = any_database.upsert_plugin(
        samples.plugin("prom", version="1.1.0", enabled=False, phase=None, config={"base_url": "http://other"}),
        actor="bob",
    )

    assert (updated.version, updated.enabled, updated.config) == ("1.1.0", False, {"base_url": "http://other"})
    assert (updated.registered_at, updated.registered_by) == (START, "alice")
    assert (updated.updated_at, updated.updated_by) == (later, "bob")
    # Observed columns belong to update_plugin_status, not to the CR mirror.
    assert (updated.phase, updated.serving_version) == ("Active", "1.0.0")
    (entry,), _ = any_database.list_audit(action="plugin.update")
    assert entry.detail == {"changed": ["version", "enabled", "config"]}


def test_removal_keeps_the_row_and_a_recreated_cr_revives_it(any_database: db.Database, clock: ManualClock) -> None:
    any_database.upsert_plugin(samples.plugin("prom"), actor="operator")
    removed_at = clock.advance(minutes=1)

    removed = any_database.mark_plugin_removed("prom", actor="alice")
    clock.advance(minutes=1)
    assert any_database.mark_plugin_removed("prom", actor="alice") == removed

    assert removed.removed_at == removed_at
    assert any_database.list_plugins() == ([], 0)
    assert any_database.list_plugins(include_removed=True)[1] == 1
    revived = any_database.upsert_plugin(samples.plugin("prom", uid="uid-new"), actor="operator")
    assert revived.removed_at is None
    assert revived.uid == "uid-new"
    actions = [entry.action for entry in any_database.list_audit(target="prom")[0]]
    assert actions == ["plugin.update", "plugin.remove", "plugin.create"]


def test_list_filters_and_pages(any_database: db.Database) -> None:
    for index in range(7):
        any_database.upsert_plugin(
            samples.plugin(
                f"p{index}",
                enabled=index % 2 == 0,
                contract_format="prometheus" if index < 4 else "elasticsearch",
            ),
            actor="operator",
        )
        any_database.update_plugin_status(
            f"p{index}", phase="Active" if index < 3 else "Failed", serving_version=None, endpoint=None, status_json={}
        )
    any_database.mark_plugin_removed("p6", actor="operator")

    def ids(**filters: object) -> tuple[list[str], int]:
        rows, total = any_database.list_plugins(**filters)  # type: ignore[arg-type]
        return [row.id for row in rows], total

    assert ids() == (["p0", "p1", "p2", "p3", "p4", "p5"], 6)
    assert ids(enabled=True) == (["p0", "p2", "p4"], 3)
    assert ids(enabled=False, include_removed=True) == (["p1", "p3", "p5"], 3)
    assert ids(phase="Active") == (["p0", "p1", "p2"], 3)
    assert ids(contract_format="elasticsearch", include_removed=True) == (["p4", "p5", "p6"], 3)
    assert ids(enabled=True, contract_format="prometheus", phase="Failed") == ([], 0)
    assert ids(limit=2, offset=2) == (["p2", "p3"], 6)
    assert ids(limit=4, offset=4) == (["p4", "p5"], 6)
    assert ids(offset=10) == ([], 6)


@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (1001, 0), (10, -1)])
def test_paging_bounds_are_invalid_input(database: db.Database, limit: int, offset: int) -> None:
    with pytest.raises(errors.InvalidInput):
        database.list_plugins(limit=limit, offset=offset)


def test_status_update_is_stored_and_unknown_ids_are_not_found(database: db.Database) -> None:
    database.upsert_plugin(samples.plugin("prom"), actor="operator")
    status = {"phase": "Active", "conditions": [{"type": "Ready", "status": "True"}]}

    stored = database.update_plugin_status(
        "prom", phase="Active", serving_version="1.0.0", endpoint="http://prom.analytics:8080", status_json=status
    )

    assert stored == database.get_plugin("prom")
    assert (stored.phase, stored.serving_version, stored.endpoint, stored.status) == (
        "Active",
        "1.0.0",
        "http://prom.analytics:8080",
        status,
    )
    assert database.get_plugin("missing") is None
    with pytest.raises(errors.NotFound, match="missing"):
        database.update_plugin_status("missing", phase=None, serving_version=None, endpoint=None, status_json=None)
    with pytest.raises(errors.NotFound, match="missing"):
        database.mark_plugin_removed("missing", actor="operator")


def test_enum_values_are_stored_as_plain_strings(database: db.Database) -> None:
    database.upsert_plugin(samples.plugin("prom", contract_format=ContractFormat.PROMETHEUS), actor="operator")
    database.update_plugin_status("prom", phase=Phase.ACTIVE, serving_version=None, endpoint=None, status_json={})

    assert database.list_plugins(contract_format="prometheus", phase="Active")[1] == 1
    # The same CR given with the enum again is not a change.
    database.upsert_plugin(samples.plugin("prom", contract_format=ContractFormat.PROMETHEUS), actor="operator")
    assert database.get_plugin("prom").updated_at is None  # type: ignore[union-attr]


def test_values_the_schema_rejects_are_invalid_input_without_echoing_them(database: db.Database) -> None:
    marker = "do-not-echo-this-config-value"
    row = dataclasses.replace(samples.plugin("prom"), version="9" * 51, config={"token_hint": marker})

    with pytest.raises(errors.InvalidInput) as raised:
        database.upsert_plugin(row, actor="operator")

    assert "value too long" in str(raised.value)
    assert marker not in str(raised.value)
    assert marker not in str(raised.value.__cause__)  # the driver error: parameters hidden too
    assert database.get_plugin("prom") is None


def _probe(seconds: int, status: str) -> db.health.Probe:
    return db.health.Probe(
        checked_at=START + datetime.timedelta(seconds=seconds), status=status, response_time_ms=3, metrics={}
    )


def test_a_reconciles_status_and_its_probes_are_saved_together_and_only_on_the_plugins_own_row(
    any_database: db.Database,
) -> None:
    any_database.upsert_plugin(samples.plugin("prom"), actor="operator")
    status = {"phase": "Active", "servingVersion": "1.0.0"}

    saved = any_database.save_status(
        "prom",
        "uid-prom",
        phase="Active",
        serving_version="1.0.0",
        endpoint="http://prom.analytics.svc:80",
        status_json=status,
        probes=[_probe(1, "healthy"), _probe(2, "degraded")],
    )

    assert saved
    stored = any_database.get_plugin("prom")
    assert stored is not None and (stored.phase, stored.serving_version, stored.status) == ("Active", "1.0.0", status)
    assert [h.status for h in any_database.health_history("prom")[0]] == ["degraded", "healthy"]
    # Another Plugin claiming the id (a Conflict) writes nothing: neither status nor health rows.
    assert not any_database.save_status(
        "prom",
        "uid-rival",
        phase="Failed",
        serving_version=None,
        endpoint=None,
        status_json={},
        probes=[_probe(3, "unhealthy")],
    )
    assert any_database.get_plugin("prom").phase == "Active"  # type: ignore[union-attr]
    assert any_database.health_history("prom")[1] == 2


def test_a_failing_health_row_leaves_the_status_unwritten_too(any_database: db.Database) -> None:
    """Nothing half-written: the status and its probes commit together or not at all."""
    any_database.upsert_plugin(samples.plugin("prom", phase="Loaded"), actor="operator")
    broken = db.health.Probe(checked_at=START, status="healthy", metrics={"not json": object()})  # type: ignore[dict-item]
    with pytest.raises((TypeError, sqlalchemy.exc.StatementError), match="not JSON serializable"):
        any_database.save_status(
            "prom", "uid-prom", phase="Active", serving_version="1.0.0", endpoint=None, status_json={}, probes=[broken]
        )
    assert any_database.get_plugin("prom").phase == "Loaded"  # type: ignore[union-attr]
