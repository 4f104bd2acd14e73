"""`decide`: the plan for every situation, as tables (status and observation → path, steps, phases).

Each row's plan is also walked through `lifecycle`: every transition it carries is legal from the
phase it starts in, and it ends in the phase the plugin should reach if every step succeeds.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest

from plugin_operator import decide, lifecycle, steps
from plugin_operator.decide import Kind, Outcome, Path
from plugin_operator.lifecycle import Event
from plugin_operator.models import Phase, PluginStatus

OLD = ("1.0.0", "a" * 64)
NEW = ("1.1.0", "b" * 64)


def _status(
    phase: Phase, *, serving: tuple[str, str] | None = OLD, failed: tuple[str, str] | None = None
) -> PluginStatus:
    fields: dict[str, Any] = {"phase": phase}
    if serving:
        fields |= {"serving_version": serving[0], "config_hash": serving[1]}
    if failed:
        fields |= {"failed_version": failed[0], "failed_config_hash": failed[1]}
    return PluginStatus(**fields)


def _observed(
    wanted: tuple[str, str] = NEW,
    *,
    enabled: bool = True,
    serving_running: bool = True,
    desired_running: bool = False,
    reload: str | None = None,
) -> decide.Observed:
    return decide.Observed(
        generation=2,
        version=wanted[0],
        identity=wanted[1],
        enabled=enabled,
        serving_running=serving_running,
        desired_running=desired_running,
        reload_requested=reload,
    )


S = Kind
FIRST_LOAD_TAIL = (S.START, S.CHECK, S.TRANSITION, S.GATE, S.REGISTER, S.TRANSITION, S.PROMOTE)

ROWS = [
    # (id, status, observed, path, steps, events, final phase)
    (
        "create",
        _status(Phase.UNLOADED, serving=None),
        _observed(serving_running=False),
        Path.FIRST_LOAD,
        (*FIRST_LOAD_TAIL, S.ENABLE, S.PROBE),
        [Event.LOAD, Event.INIT, Event.ENABLE],
        Phase.ACTIVE,
    ),
    (
        "create-disabled",
        _status(Phase.UNLOADED, serving=None),
        _observed(serving_running=False, enabled=False),
        Path.FIRST_LOAD,
        (*FIRST_LOAD_TAIL, S.DISABLE),
        [Event.LOAD, Event.INIT, Event.DISABLE],
        Phase.INACTIVE,
    ),
    (
        "retry-after-failure",
        _status(Phase.FAILED, serving=None),
        _observed(serving_running=False),
        Path.FIRST_LOAD,
        (S.TRANSITION, *FIRST_LOAD_TAIL, S.ENABLE, S.PROBE),
        [Event.RETRY, Event.LOAD, Event.INIT, Event.ENABLE],
        Phase.ACTIVE,
    ),
    (
        "spec-change-rolls-out",
        _status(Phase.ACTIVE),
        _observed(),
        Path.ROLL_OUT,
        (S.START, S.CHECK, S.GATE, S.REGISTER, S.PROMOTE, S.DRAIN, S.ENABLE, S.PROBE),
        [],
        Phase.ACTIVE,
    ),
    (
        "rollout-while-degraded",
        _status(Phase.DEGRADED),
        _observed(),
        Path.ROLL_OUT,
        (S.START, S.CHECK, S.GATE, S.REGISTER, S.PROMOTE, S.DRAIN, S.ENABLE, S.PROBE),
        [],
        Phase.DEGRADED,
    ),
    (
        "rollout-while-disabled",
        _status(Phase.INACTIVE),
        _observed(enabled=False, serving_running=False),
        Path.ROLL_OUT,
        (S.START, S.CHECK, S.GATE, S.REGISTER, S.PROMOTE, S.DISABLE),
        [],
        Phase.INACTIVE,
    ),
    (
        "rollout-from-failed-with-a-serving-runtime",
        _status(Phase.FAILED),
        _observed(),
        Path.ROLL_OUT,
        (
            S.TRANSITION,
            S.START,
            S.CHECK,
            S.TRANSITION,
            S.GATE,
            S.REGISTER,
            S.TRANSITION,
            S.PROMOTE,
            S.DRAIN,
            S.ENABLE,
            S.PROBE,
        ),
        [Event.RETRY, Event.LOAD, Event.INIT, Event.ENABLE],
        Phase.ACTIVE,
    ),
    (
        "steady",
        _status(Phase.ACTIVE),
        _observed(OLD, desired_running=True),
        Path.STEADY,
        (S.REGISTER, S.ENABLE, S.PROBE),
        [],
        Phase.ACTIVE,
    ),
    (
        "runtime-gone-restarts",
        _status(Phase.ACTIVE),
        _observed(OLD, serving_running=False),
        Path.STEADY,
        (S.RESTART, S.REGISTER, S.ENABLE, S.PROBE),
        [],
        Phase.ACTIVE,
    ),
    (
        "reload-requested",
        _status(Phase.ACTIVE),
        _observed(OLD, desired_running=True, reload="r1"),
        Path.STEADY,
        (S.REGISTER, S.RELOAD, S.ENABLE, S.PROBE),
        [],
        Phase.ACTIVE,
    ),
    (
        "disable",
        _status(Phase.ACTIVE),
        _observed(OLD, desired_running=True, enabled=False),
        Path.STEADY,
        (S.REGISTER, S.DISABLE),
        [Event.DISABLE],
        Phase.INACTIVE,
    ),
    (
        "stays-disabled-without-a-runtime",
        _status(Phase.INACTIVE),
        _observed(OLD, serving_running=False, enabled=False),
        Path.STEADY,
        (S.DISABLE,),
        [],
        Phase.INACTIVE,
    ),
    (
        "disabled-after-a-failure-with-nothing-running",
        _status(Phase.FAILED),
        _observed(OLD, serving_running=False, enabled=False),
        Path.STEADY,
        (S.TRANSITION, S.DISABLE),
        [Event.RETRY, Event.DISABLE],
        Phase.INACTIVE,
    ),
    (
        "enable-again-restarts",
        _status(Phase.INACTIVE),
        _observed(OLD, serving_running=False),
        Path.STEADY,
        (S.RESTART, S.REGISTER, S.ENABLE, S.PROBE),
        [Event.ENABLE],
        Phase.ACTIVE,
    ),
    (
        "failed-but-its-instance-still-serves",
        _status(Phase.FAILED),
        _observed(OLD, desired_running=True),
        Path.STEADY,
        (S.TRANSITION, S.TRANSITION, S.TRANSITION, S.REGISTER, S.ENABLE, S.PROBE),
        [Event.RETRY, Event.LOAD, Event.INIT, Event.ENABLE],
        Phase.ACTIVE,
    ),
    (
        "failed-version-held-back",
        _status(Phase.ACTIVE, failed=NEW),
        _observed(),
        Path.HOLD,
        (S.ENABLE, S.PROBE),
        [],
        Phase.ACTIVE,
    ),
    (
        "failed-version-retried-on-reload",
        _status(Phase.ACTIVE, failed=NEW),
        _observed(reload="r2"),
        Path.ROLL_OUT,
        (S.START, S.CHECK, S.GATE, S.REGISTER, S.PROMOTE, S.DRAIN, S.ENABLE, S.PROBE),
        [],
        Phase.ACTIVE,
    ),
    (
        "failed-version-and-the-old-one-is-gone",
        _status(Phase.DEGRADED, failed=NEW),
        _observed(serving_running=False),
        Path.HOLD,
        (S.FORGET, S.TRANSITION, *FIRST_LOAD_TAIL, S.ENABLE, S.PROBE),
        [Event.UNLOAD, Event.LOAD, Event.INIT, Event.ENABLE],
        Phase.ACTIVE,
    ),
]


@pytest.mark.parametrize(
    ("status", "observed", "path", "steps", "events", "final"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS]
)
def test_the_plan_for_each_situation(
    status: PluginStatus,
    observed: decide.Observed,
    path: Path,
    steps: tuple[Kind, ...],
    events: list[Event],
    final: Phase,
) -> None:
    plan = decide.decide(status, observed)

    assert plan.path is path
    assert plan.kinds == steps
    assert [s.event for s in plan.steps if s.event is not None] == events
    phase = status.phase
    for event in (s.event for s in plan.steps if s.event is not None):
        phase = lifecycle.next_phase(phase, event)  # raises on an illegal transition
    assert phase is final


def test_loaded_and_initialized_are_published_as_they_are_reached() -> None:
    plan = decide.decide(_status(Phase.UNLOADED, serving=None), _observed(serving_running=False))

    published = [(s.event, plan.kinds[i - 1]) for i, s in enumerate(plan.steps) if s.publish]
    assert published == [(Event.LOAD, Kind.CHECK), (Event.INIT, Kind.REGISTER)]


def test_a_rollout_gates_with_a_smoke_query_and_drains_the_instance_it_replaces() -> None:
    plan = decide.decide(_status(Phase.ACTIVE), _observed())

    assert plan.smoke and plan.serving == f"1.0.0-{'a' * 10}"
    assert not decide.decide(_status(Phase.UNLOADED, serving=None), _observed(serving_running=False)).smoke


def test_a_description_edit_is_the_steady_path() -> None:
    """Same identity (desired renders descriptive fields into nothing that runs): nothing starts."""
    plan = decide.decide(_status(Phase.ACTIVE), _observed(OLD, desired_running=True))

    assert Kind.START not in plan.kinds and Kind.RESTART not in plan.kinds


@pytest.mark.parametrize("phase", list(Phase))
@pytest.mark.parametrize("serving", [None, OLD])
@pytest.mark.parametrize("wanted", [OLD, NEW])
@pytest.mark.parametrize("enabled", [True, False])
@pytest.mark.parametrize("running", [True, False])
def test_every_plan_walks_the_lifecycle_legally(
    phase: Phase, serving: Any, wanted: Any, enabled: bool, running: bool
) -> None:
    status = _status(phase, serving=serving)
    plan = decide.decide(
        status,
        _observed(wanted, enabled=enabled, serving_running=running, desired_running=running and wanted == serving),
    )
    current = phase
    for step in plan.steps:
        if step.event is not None:
            current = lifecycle.next_phase(current, step.event)


#: Every reason a step raises, by the step that raises it (see plugin_operator.steps).
REASONS = [
    (Kind.START, "RuntimeFailed"),
    (Kind.CHECK, "InitFailed"),
    (Kind.CHECK, "VersionMismatch"),
    (Kind.GATE, "ProbeFailed"),
    (Kind.GATE, "SmokeQueryFailed"),
    (Kind.REGISTER, "Conflict"),
    (Kind.REGISTER, "InvalidSpec"),
]


def test_the_reasons_table_is_every_reason_a_step_fails_with() -> None:
    """Each step method's `Failed` reasons, read from the source, are the rows above: a new reason
    cannot slip in without its rollback row."""
    source = inspect.getsource(steps.Steps)
    methods = re.split(r"\n    async def _", source)
    raised = {
        (Kind(method.split("(")[0]), reason)
        for method in methods[1:]
        if method.split("(")[0] in Kind._value2member_map_
        for reason in re.findall(r'raise Failed\("(\w+)"', method)
    }
    assert raised == set(REASONS)


@pytest.mark.parametrize(("step", "reason"), REASONS)
@pytest.mark.parametrize(
    ("status", "observed", "serving_running", "outcome"),
    [
        (_status(Phase.ACTIVE), _observed(), True, Outcome.ROLLBACK),
        (_status(Phase.ACTIVE), _observed(serving_running=False), False, Outcome.FAIL),
        (_status(Phase.UNLOADED, serving=None), _observed(serving_running=False), False, Outcome.FAIL),
        (_status(Phase.DEGRADED, failed=NEW), _observed(serving_running=False), False, Outcome.FAIL),
    ],
    ids=["rollout-beside-a-serving-instance", "rollout-with-nothing-serving", "first-load", "hold-reloading-afresh"],
)
def test_each_failure_rolls_back_a_rollout_and_fails_anything_else(
    step: Kind, reason: str, status: PluginStatus, observed: decide.Observed, serving_running: bool, outcome: Outcome
) -> None:
    plan = decide.decide(status, observed)

    assert step in plan.kinds, reason  # the step that raises this reason is part of the plan
    assert decide.on_failure(plan, serving_running=serving_running) is outcome


@pytest.mark.parametrize(
    ("status", "serving_running", "outcome"),
    [
        (_status(Phase.ACTIVE), True, Outcome.REJECT),
        (_status(Phase.DEGRADED), True, Outcome.REJECT),
        (_status(Phase.INACTIVE), True, Outcome.REJECT),
        (_status(Phase.ACTIVE), False, Outcome.FAIL),
        (_status(Phase.FAILED), True, Outcome.FAIL),
        (_status(Phase.UNLOADED, serving=None), False, Outcome.FAIL),
    ],
    ids=["active", "degraded", "inactive-still-running", "serving-gone", "already-failed", "never-served"],
)
def test_a_spec_that_cannot_be_carried_out_is_rejected_while_a_good_version_serves(
    status: PluginStatus, serving_running: bool, outcome: Outcome
) -> None:
    assert decide.on_problem(status, serving_running=serving_running) is outcome


@pytest.mark.parametrize(
    ("phase", "observed_generation", "generation", "event"),
    [
        (Phase.FAILED, 1, 2, Event.RETRY),
        (Phase.FAILED, 2, 2, None),
        (Phase.ACTIVE, 1, 2, None),
        (Phase.UNLOADED, None, 1, None),
    ],
    ids=["failed-spec-changed", "failed-same-spec", "active", "new"],
)
def test_a_failed_plugin_leaves_failed_when_its_spec_changes(
    phase: Phase, observed_generation: int | None, generation: int, event: Event | None
) -> None:
    status = PluginStatus(phase=phase, observed_generation=observed_generation)
    assert decide.retry_event(status, generation) is event


@pytest.mark.parametrize(
    ("phase", "serving", "monitored"),
    [
        (Phase.ACTIVE, OLD, True),
        (Phase.DEGRADED, OLD, True),
        (Phase.INITIALIZED, OLD, True),
        (Phase.INACTIVE, OLD, False),
        (Phase.FAILED, OLD, False),
        (Phase.UNLOADED, None, False),
        (Phase.LOADED, None, False),
    ],
)
def test_the_health_monitor_probes_what_was_promoted_and_should_run(
    phase: Phase, serving: tuple[str, str] | None, monitored: bool
) -> None:
    assert decide.monitored(_status(phase, serving=serving)) is monitored
