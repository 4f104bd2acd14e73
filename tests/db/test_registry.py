"""GTS registration rules against the database: ownership, conflicts, adoption, deprecation."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from plugin_operator import db, models, registration, registry
from plugin_runtime import errors

from . import samples
from .conftest import START, ManualClock
from .samples import datasource, datasource_id, query, query_id

ACTIVE, DEPRECATED, DELETED = db.EntityState.ACTIVE, db.EntityState.DEPRECATED, db.EntityState.DELETED


def _states(reg: registry.Registry) -> dict[str, tuple[str, db.EntityState]]:
    rows, _ = reg.list_entities(limit=1000)
    return {row.id: (row.owner_plugin_id, row.state) for row in rows}


def test_register_stores_full_entities_owned_by_the_plugin(any_database: db.Database) -> None:
    reg = registry.Registry(any_database)

    queries = [query("cpu"), query("mem", adapter_id="shared")]
    result = reg.register("prom", "uid-1", "1.0.0", queries, [datasource("cpu_top", "cpu")], adopt=False)

    assert set(result.created) == {query_id("cpu"), query_id("mem"), datasource_id("cpu_top")}
    assert result.updated == result.deprecated == result.adopted == ()
    cpu = reg.get_entity(query_id("cpu"))
    assert cpu is not None
    assert (cpu.kind, cpu.state, cpu.owner_plugin_id, cpu.owner_uid, cpu.owner_version) == (
        db.EntityKind.QUERY,
        ACTIVE,
        "prom",
        "uid-1",
        "1.0.0",
    )
    assert cpu.body == {
        "id": query_id("cpu"),
        "name": "cpu metrics",
        "category": "monitoring",
        "description": "The cpu series",
        "api_endpoint": "/metrics/cpu",
        "capabilities_id": "gts.hypernetix.hyperspot.ax.query_capabilities.v1~acme.monitoring._.default.v1",
        "returns_schema_id": "gts.hypernetix.hyperspot.ax.schema.v1~acme.monitoring._.timeseries.v1~",
        "contract_format": "custom",
        "adapter_id": "prom",
    }
    assert reg.get_entity(query_id("mem")).body["adapter_id"] == "shared"  # type: ignore[union-attr]
    ds = reg.get_entity(datasource_id("cpu_top"))
    assert ds is not None and ds.kind is db.EntityKind.DATASOURCE
    assert ds.body == {
        "id": datasource_id("cpu_top"),
        "query_id": query_id("cpu"),
        "name": "cpu_top datasource",
        "description": "",
        "params": {"$top": 10},
        "render_options": {"chart": "line"},
    }
    assert {e.id for e in result.entities} == set(result.created)
    assert [q.id for q in reg.list_entities(kind=db.EntityKind.QUERY, state=db.EntityState.ACTIVE)[0]] == [
        query_id("cpu"),
        query_id("mem"),
    ]
    (entry,), _ = any_database.list_audit(action="gts.register")
    assert (entry.target, entry.outcome) == ("prom", db.Outcome.SUCCESS)


def test_conflict_names_every_clash_and_writes_nothing(any_database: db.Database) -> None:
    reg = registry.Registry(any_database)
    reg.register("prom", "uid-1", "1.0.0", [query("cpu"), query("mem")], [], adopt=False)
    before = reg.list_entities()

    with pytest.raises(registration.RegistrationConflict) as raised:
        reg.register("other", "uid-2", "2.0.0", [query("disk"), query("cpu"), query("mem")], [], adopt=False)

    conflict = raised.value
    assert isinstance(conflict, errors.Conflict)
    assert conflict.conflicts == {query_id("cpu"): "prom", query_id("mem"): "prom"}
    assert query_id("cpu") in conflict.detail and "'prom'" in conflict.detail
    assert models.ADOPT_ANNOTATION in conflict.detail
    problem = conflict.to_problem()
    assert problem["status"] == 409
    assert problem["conflicts"] == [{"id": query_id("cpu"), "owner": "prom"}, {"id": query_id("mem"), "owner": "prom"}]
    assert reg.get_entity(query_id("disk")) is None
    assert reg.list_entities() == before
    (denied,), _ = any_database.list_audit(outcome="denied")
    assert (denied.actor, denied.action, denied.target) == ("operator", "gts.register", "other")


def test_deprecated_entities_of_another_plugin_still_conflict(database: db.Database) -> None:
    reg = registry.Registry(database)
    reg.register("prom", "uid-1", "1.0.0", [query("cpu")], [], adopt=False)
    reg.deregister("prom", hard=False)

    with pytest.raises(registration.RegistrationConflict):
        reg.register("other", "uid-2", "1.0.0", [query("cpu")], [], adopt=False)


def test_adoption_takes_over_and_audits_the_previous_owner(database: db.Database, clock: ManualClock) -> None:
    reg = registry.Registry(database)
    reg.register("prom", "uid-1", "1.0.0", [query("cpu"), query("mem")], [], adopt=False)
    clock.advance(minutes=1)

    result = reg.register("other", "uid-2", "2.0.0", [query("cpu", name="CPU v2")], [], adopt=True)

    assert result.adopted == (registration.Adoption(query_id("cpu"), "prom", "uid-1"),)
    assert result.updated == (query_id("cpu"),)
    cpu = reg.get_entity(query_id("cpu"))
    assert cpu is not None
    assert (cpu.owner_plugin_id, cpu.owner_uid, cpu.owner_version) == ("other", "uid-2", "2.0.0")
    assert cpu.body["name"] == "CPU v2"
    assert cpu.body["adapter_id"] == "other"
    assert cpu.created_at == START
    assert _states(reg)[query_id("mem")] == ("prom", ACTIVE)
    (adopted,), _ = database.list_audit(action="gts.adopt")
    assert adopted.target == query_id("cpu")
    assert adopted.detail == {"owner": "other", "owner_uid": "uid-2", "previous_owner": "prom", "previous_uid": "uid-1"}


def test_datasource_needs_an_active_query(any_database: db.Database) -> None:
    reg = registry.Registry(any_database)

    with pytest.raises(registration.InvalidRegistration) as raised:
        reg.register("prom", "uid-1", "1.0.0", [query("cpu")], [datasource("disk_top", "disk")], adopt=False)

    assert isinstance(raised.value, errors.InvalidInput)
    assert raised.value.status == 400
    assert query_id("disk") in raised.value.detail
    assert raised.value.to_problem()["missing_queries"] == [query_id("disk")]
    assert reg.list_entities() == ([], 0)
    (failed,), _ = any_database.list_audit(outcome="failed")
    assert failed.action == "gts.register"


def test_datasource_may_use_another_plugins_active_query_but_not_a_deprecated_one(database: db.Database) -> None:
    reg = registry.Registry(database)
    reg.register("prom", "uid-1", "1.0.0", [query("cpu"), query("mem")], [], adopt=False)
    reg.register("prom", "uid-1", "1.0.0", [query("cpu")], [], adopt=False)  # mem is now deprecated

    reg.register("dash", "uid-9", "1.0.0", [], [datasource("cpu_top", "cpu")], adopt=False)
    with pytest.raises(registration.InvalidRegistration, match="mem"):
        reg.register("dash", "uid-9", "1.0.0", [], [datasource("mem_top", "mem")], adopt=False)


def test_datasource_cannot_rely_on_a_query_its_plugin_stops_declaring(database: db.Database) -> None:
    reg = registry.Registry(database)
    reg.register("prom", "uid-1", "1.0.0", [query("cpu")], [], adopt=False)

    with pytest.raises(registration.InvalidRegistration, match="cpu"):
        reg.register("prom", "uid-1", "1.0.0", [], [datasource("cpu_top", "cpu")], adopt=False)

    assert _states(reg) == {query_id("cpu"): ("prom", ACTIVE)}


def test_re_registering_is_idempotent(any_database: db.Database, clock: ManualClock) -> None:
    reg = registry.Registry(any_database)
    first = reg.register("prom", "uid-1", "1.0.0", [query("cpu")], [datasource("cpu_top", "cpu")], adopt=False)
    audit_before = any_database.list_audit()[1]
    clock.advance(minutes=10)

    again = reg.register("prom", "uid-1", "1.0.0", [query("cpu")], [datasource("cpu_top", "cpu")], adopt=False)

    assert again.created == again.updated == again.deprecated == ()
    assert set(again.plan.unchanged) == {query_id("cpu"), datasource_id("cpu_top")}
    assert again.entities == first.entities
    assert any_database.list_audit()[1] == audit_before
    assert reg.list_entities()[1] == 2


def test_recreated_cr_with_a_new_uid_updates_in_place(database: db.Database, clock: ManualClock) -> None:
    reg = registry.Registry(database)
    reg.register("prom", "uid-1", "1.0.0", [query("cpu")], [], adopt=False)
    later = clock.advance(minutes=1)

    result = reg.register("prom", "uid-2", "1.0.0", [query("cpu")], [], adopt=False)

    assert result.updated == (query_id("cpu"),)
    assert result.adopted == ()
    cpu = reg.get_entity(query_id("cpu"))
    assert cpu is not None
    assert (cpu.owner_uid, cpu.created_at, cpu.updated_at) == ("uid-2", START, later)
    assert database.list_audit(action="gts.adopt") == ([], 0)


def test_undeclared_entities_are_deprecated_and_come_back_when_declared_again(
    any_database: db.Database, clock: ManualClock
) -> None:
    reg = registry.Registry(any_database)
    reg.register("prom", "uid-1", "1.0.0", [query("cpu"), query("mem")], [datasource("mem_top", "mem")], adopt=False)
    deprecated_at = clock.advance(minutes=1)

    dropped = reg.register("prom", "uid-1", "1.0.0", [query("cpu")], [], adopt=False)

    assert dropped.deprecated == (datasource_id("mem_top"), query_id("mem"))
    mem = reg.get_entity(query_id("mem"))
    assert mem is not None and (mem.state, mem.deprecated_at) == (DEPRECATED, deprecated_at)
    assert {e.id: e.state for e in dropped.entities}[query_id("mem")] is DEPRECATED
    clock.advance(minutes=1)

    back = reg.register("prom", "uid-1", "1.0.0", [query("cpu"), query("mem")], [], adopt=False)

    assert back.updated == (query_id("mem"),)
    mem = reg.get_entity(query_id("mem"))
    assert mem is not None and (mem.state, mem.deprecated_at) == (ACTIVE, None)
    assert _states(reg)[datasource_id("mem_top")] == ("prom", DEPRECATED)


def test_version_promotion_moves_ownership_in_the_registering_transaction(database: db.Database) -> None:
    reg = registry.Registry(database)
    reg.register("prom", "uid-1", "1.0.0", [query("cpu"), query("mem")], [], adopt=False)

    reg.register("prom", "uid-1", "1.1.0", [query("cpu")], [], adopt=False)

    rows = {row.id: row for row in reg.list_entities()[0]}
    assert rows[query_id("cpu")].owner_version == "1.1.0"
    assert (rows[query_id("mem")].owner_version, rows[query_id("mem")].state) == ("1.0.0", DEPRECATED)


def test_deregister_soft_then_hard(any_database: db.Database) -> None:
    reg = registry.Registry(any_database)
    reg.register("prom", "uid-1", "1.0.0", [query("cpu"), query("mem")], [datasource("cpu_top", "cpu")], adopt=False)
    reg.register("es", "uid-e", "1.0.0", [query("disk")], [], adopt=False)

    soft = reg.deregister("prom", hard=False)

    assert soft == [datasource_id("cpu_top"), query_id("cpu"), query_id("mem")]
    assert {state for owner, state in _states(reg).values() if owner == "prom"} == {DEPRECATED}
    assert reg.deregister("prom", hard=False) == []
    assert [q.id for q in reg.list_entities(kind=db.EntityKind.QUERY, state=db.EntityState.ACTIVE)[0]] == [
        query_id("disk")
    ]

    hard = reg.deregister("prom", hard=True)

    assert hard == soft
    assert reg.list_entities(owner="prom", state="deleted")[1] == 3
    assert _states(reg)[query_id("disk")] == ("es", ACTIVE)


def test_soft_deleted_ids_are_free_to_register_again(database: db.Database, clock: ManualClock) -> None:
    reg = registry.Registry(database)
    reg.register("prom", "uid-1", "1.0.0", [query("cpu")], [], adopt=False)
    reg.deregister("prom", hard=True)
    later = clock.advance(days=1)

    result = reg.register("other", "uid-2", "1.0.0", [query("cpu")], [], adopt=False)

    assert result.created == (query_id("cpu"),)
    cpu = reg.get_entity(query_id("cpu"))
    assert cpu is not None
    assert (cpu.owner_plugin_id, cpu.state, cpu.created_at, cpu.deprecated_at) == ("other", ACTIVE, later, None)


def test_list_entities_filters(database: db.Database) -> None:
    reg = registry.Registry(database)
    reg.register("prom", "uid-1", "1.0.0", [query("cpu"), query("mem")], [datasource("cpu_top", "cpu")], adopt=False)
    reg.register("es", "uid-e", "1.0.0", [query("disk")], [], adopt=False)
    reg.register("prom", "uid-1", "1.0.0", [query("cpu")], [datasource("cpu_top", "cpu")], adopt=False)

    def ids(**filters: Any) -> tuple[list[str], int]:
        rows, total = reg.list_entities(**filters)
        return [row.id for row in rows], total

    assert ids(kind="datasource") == ([datasource_id("cpu_top")], 1)
    assert ids(kind=db.EntityKind.QUERY, state="active") == ([query_id("cpu"), query_id("disk")], 2)
    assert ids(owner="prom", state=DEPRECATED) == ([query_id("mem")], 1)
    assert ids(limit=1, offset=1) == ([query_id("cpu")], 4)


@pytest.mark.parametrize(
    ("queries", "datasources", "message"),
    [
        ([query("cpu", id="gts.hypernetix.hyperspot.ax.datasource.v1~acme.monitoring._.cpu.v1")], [], "query #1"),
        ([query("cpu", api_endpoint="no-slash")], [], "api_endpoint"),
        ([query("cpu", unexpected=1)], [], "unexpected"),
        ([query("cpu"), query("cpu")], [], "more than once"),
        ([], [datasource("x", "cpu", query_id="not-a-gts-id")], "datasource #1"),
    ],
)
def test_malformed_declarations_are_invalid_and_write_nothing(
    database: db.Database, queries: list[dict[str, Any]], datasources: list[dict[str, Any]], message: str
) -> None:
    reg = registry.Registry(database)

    with pytest.raises(registration.InvalidRegistration, match=message):
        reg.register("prom", "uid-1", "1.0.0", queries, datasources, adopt=False)

    assert reg.list_entities() == ([], 0)


def test_model_instances_and_camel_case_are_accepted(database: db.Database) -> None:
    reg = registry.Registry(database)
    spec_query = models.QuerySpec.model_validate(query("cpu"))
    camel = {
        "id": datasource_id("cpu_top"),
        "queryId": query_id("cpu"),
        "name": "top",
        "renderOptions": {"chart": "bar"},
    }

    reg.register("prom", "uid-1", "1.0.0", [spec_query], [camel], adopt=False)

    stored = reg.get_entity(datasource_id("cpu_top"))
    assert stored is not None and stored.body["render_options"] == {"chart": "bar"}


def _run_together(*calls: Callable[[], object], names: tuple[str, ...] = ()) -> list[object]:
    """Run the calls in threads; return each call's result or the exception it raised."""
    outcomes: list[object] = [None] * len(calls)

    def runner(index: int, call: Callable[[], object]) -> None:
        try:
            outcomes[index] = call()
        except Exception as err:
            outcomes[index] = err

    threads = [
        threading.Thread(target=runner, args=(i, call), name=names[i] if names else None)
        for i, call in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a registration is stuck"
    return outcomes


@pytest.mark.parametrize("beta_writes_after_alpha_commits", [False, True], ids=["writes-collide", "stale-read"])
def test_concurrent_registrations_of_the_same_id_have_exactly_one_winner(
    database: db.Database, monkeypatch: pytest.MonkeyPatch, beta_writes_after_alpha_commits: bool
) -> None:
    # Both transactions read before either writes (the worst interleavings): neither sees a row to
    # lock. Then either both write at once, or beta writes only once alpha has committed, on what
    # it read before alpha's rows existed.
    barrier = threading.Barrier(2, timeout=30)
    alpha_committed = threading.Event()
    original_lock = db.entities.lock
    first_read = threading.local()
    reads: list[str] = []

    def lock_then_wait(*args: Any, **kwargs: Any) -> dict[str, db.EntityRecord]:
        found = original_lock(*args, **kwargs)
        reads.append(threading.current_thread().name)
        if not getattr(first_read, "done", False):
            first_read.done = True
            barrier.wait()
            if beta_writes_after_alpha_commits and threading.current_thread().name == "beta":
                assert alpha_committed.wait(timeout=30)
        return found

    monkeypatch.setattr(db.entities, "lock", lock_then_wait)
    reg = registry.Registry(database)

    def alpha() -> registration.RegistrationResult:
        try:
            return reg.register("alpha", "uid-a", "1.0.0", [query("shared"), query("alpha_only")], [], adopt=False)
        finally:
            alpha_committed.set()

    outcomes = _run_together(
        alpha,
        lambda: reg.register("beta", "uid-b", "1.0.0", [query("beta_only"), query("shared")], [], adopt=False),
        names=("alpha", "beta"),
    )

    winners = [o for o in outcomes if isinstance(o, registration.RegistrationResult)]
    losers = [o for o in outcomes if isinstance(o, registration.RegistrationConflict)]
    assert (len(winners), len(losers)) == (1, 1), outcomes
    winner = winners[0].entities[0].owner_plugin_id
    if beta_writes_after_alpha_commits:
        assert winner == "alpha"
    loser = "beta" if winner == "alpha" else "alpha"
    assert losers[0].conflicts == {query_id("shared"): winner}
    assert _states(reg) == {query_id("shared"): (winner, ACTIVE), query_id(f"{winner}_only"): (winner, ACTIVE)}
    assert reg.get_entity(query_id(f"{loser}_only")) is None
    # The loser's insert collided with the winner's row; its transaction ran again and saw the owner.
    assert sorted(reads) == sorted(["alpha", "beta", loser])


def test_concurrent_reconciles_of_the_same_plugin_both_succeed_without_duplicates(database: db.Database) -> None:
    reg = registry.Registry(database)
    declared = [query(f"q{index}") for index in range(20)]

    outcomes = _run_together(
        *[lambda: reg.register("prom", "uid-1", "1.0.0", declared, [], adopt=False) for _ in range(4)]
    )

    assert all(isinstance(o, registration.RegistrationResult) for o in outcomes), outcomes
    assert reg.list_entities(limit=100)[1] == 20
    (entry,), _ = database.list_audit(action="gts.register")
    assert len(entry.detail["created"]) == 20


def test_samples_match_the_crd_models() -> None:
    # Keeps the fixtures honest: every sample is a valid Plugin spec entry.
    models.QuerySpec.model_validate(samples.query("cpu"))
    models.DatasourceSpec.model_validate(samples.datasource("cpu_top", "cpu"))
