"""`report`: what the status, its conditions and Events say for each outcome of a reconcile."""

from __future__ import annotations

from typing import Any

import pytest

from plugin_operator import report
from plugin_operator.models import ConditionType, Phase, PluginStatus
from plugin_operator.progress import Failed, Work

NOW = "2026-12-05T12:00:00Z"


def _work(phase: Phase = Phase.ACTIVE, **status: Any) -> Work:
    body = {"metadata": {"namespace": "ns", "name": "p", "generation": 3}, "spec": {}}
    return Work(body, PluginStatus(phase=phase, serving_version="1.0.0", config_hash="a" * 64, **status))


def _observed(work: Work) -> dict[ConditionType, tuple[str, str]]:
    return {o.type: (o.status, o.reason) for o in work.observations}


@pytest.mark.parametrize("phase", [Phase.ACTIVE, Phase.UNLOADED, Phase.FAILED])
def test_a_failure_fails_the_plugin_once_and_says_why_everywhere(phase: Phase) -> None:
    work = _work(phase)
    report.failed(work, Failed("RuntimeFailed", "exited 1", condition=ConditionType.RUNTIME_READY), now=NOW)

    assert work.status.phase is Phase.FAILED
    assert _observed(work) == {
        ConditionType.RUNTIME_READY: ("False", "RuntimeFailed"),
        ConditionType.READY: ("False", "RuntimeFailed"),
        ConditionType.PROGRESSING: ("False", "RuntimeFailed"),
    }
    assert work.status.last_error is not None and (work.status.last_error.time, work.status.last_error.reason) == (
        NOW,
        "RuntimeFailed",
    )
    assert ("Warning", "RuntimeFailed", "exited 1") in work.events
    transitions = [e for e in work.events if e[1] == "Fail"]
    assert len(transitions) == (0 if phase is Phase.FAILED else 1)


def test_a_rejected_change_keeps_the_phase_and_names_the_version_that_serves() -> None:
    work = _work()
    report.rejected(work, Failed("Conflict", "id taken"), now=NOW)

    assert work.status.phase is Phase.ACTIVE
    assert _observed(work) == {ConditionType.PROGRESSING: ("False", "Conflict")}
    assert work.events == [("Warning", "Conflict", "id taken; version 1.0.0 keeps serving")]


def test_a_rollback_records_the_failed_instance_and_the_one_that_keeps_serving() -> None:
    work = _work()
    report.rolled_back(work, "2.0.0", "b" * 64, Failed("SmokeQueryFailed", "500"), now=NOW)

    assert (work.status.failed_version, work.status.failed_config_hash) == ("2.0.0", "b" * 64)
    assert (work.status.serving_version, work.status.phase) == ("1.0.0", Phase.ACTIVE)
    assert _observed(work) == {ConditionType.PROGRESSING: ("False", "SmokeQueryFailed")}
    assert work.events == [("Warning", "RolloutFailed", "2.0.0: 500; 1.0.0 keeps serving")]


def test_a_rollout_answers_the_reload_request_that_retries_it() -> None:
    work = _work()
    message = report.rolling_out(work, "2.0.0", reload_requested="r1")

    assert message == "1.0.0 → 2.0.0: starting beside the old one"
    assert work.status.observed_reload == "r1"
    assert _observed(work) == {ConditionType.PROGRESSING: ("True", "RollingOut")}


@pytest.mark.parametrize(
    ("final", "observed", "generation"), [(True, True, 3), (True, False, 1), (False, True, 1)], ids=str
)
def test_settle_records_the_generation_only_of_a_final_write_that_acted_on_the_spec(
    final: bool, observed: bool, generation: int
) -> None:
    work = _work(observed_generation=1)
    work.observe(ConditionType.RUNTIME_READY, "True", "RuntimeUp")
    report.settle(work, generation=3, now=NOW, enabled=True, final=final, observed=observed)

    assert work.status.observed_generation == generation and work.observations == []
    kinds = {c.type: c.status for c in work.status.conditions}
    assert kinds[ConditionType.RUNTIME_READY] == "True" and ConditionType.READY in kinds


def test_settle_leaves_ready_as_the_failure_set_it() -> None:
    work = _work(Phase.ACTIVE)
    report.failed(work, Failed("InitFailed", "boom"), now=NOW)
    report.settle(work, generation=3, now=NOW, enabled=True, final=True, observed=True)

    ready = next(c for c in work.status.conditions if c.type is ConditionType.READY)
    assert (ready.status, ready.reason) == ("False", "InitFailed")
