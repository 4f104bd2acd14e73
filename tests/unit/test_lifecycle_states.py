import pytest

from plugin_operator import lifecycle
from plugin_operator.lifecycle import Event, IllegalTransition
from plugin_operator.models import Phase

SPEC_TRANSITIONS = [
    (Phase.UNLOADED, Event.LOAD, Phase.LOADED),
    (Phase.LOADED, Event.INIT, Phase.INITIALIZED),
    (Phase.INITIALIZED, Event.ENABLE, Phase.ACTIVE),
    (Phase.ACTIVE, Event.DISABLE, Phase.INACTIVE),
    (Phase.INACTIVE, Event.ENABLE, Phase.ACTIVE),
    (Phase.ACTIVE, Event.UNLOAD, Phase.UNLOADED),
]


@pytest.mark.parametrize(("source", "event", "target"), SPEC_TRANSITIONS)
def test_the_specs_transitions(source: Phase, event: Event, target: Phase) -> None:
    assert lifecycle.next_phase(source, event) is target


@pytest.mark.parametrize(
    ("source", "event"),
    [
        (Phase.UNLOADED, Event.ENABLE),
        (Phase.UNLOADED, Event.INIT),
        (Phase.LOADED, Event.ENABLE),
        (Phase.INACTIVE, Event.DEGRADE),
        (Phase.ACTIVE, Event.LOAD),
        (Phase.FAILED, Event.ENABLE),
        (Phase.UNLOADED, Event.UNLOAD),
        (Phase.ACTIVE, Event.RECOVER),
    ],
)
def test_illegal_transitions_are_rejected(source: Phase, event: Event) -> None:
    with pytest.raises(IllegalTransition, match=f"cannot {event.value}"):
        lifecycle.next_phase(source, event)


def test_every_state_but_failed_can_fail_and_failed_retries_from_unloaded() -> None:
    for phase in Phase:
        if phase is not Phase.FAILED:
            assert lifecycle.next_phase(phase, Event.FAIL) is Phase.FAILED
    assert lifecycle.next_phase(Phase.FAILED, Event.RETRY) is Phase.UNLOADED


def test_health_moves_active_and_degraded() -> None:
    assert lifecycle.next_phase(Phase.ACTIVE, Event.DEGRADE) is Phase.DEGRADED
    assert lifecycle.next_phase(Phase.DEGRADED, Event.RECOVER) is Phase.ACTIVE


@pytest.mark.parametrize(
    ("phase", "enabled", "events"),
    [
        (Phase.UNLOADED, True, [Event.LOAD, Event.INIT, Event.ENABLE]),
        (Phase.UNLOADED, False, [Event.LOAD, Event.INIT, Event.DISABLE]),
        (Phase.FAILED, True, [Event.RETRY, Event.LOAD, Event.INIT, Event.ENABLE]),
        (Phase.ACTIVE, False, [Event.DISABLE]),
        (Phase.INACTIVE, True, [Event.ENABLE]),
        (Phase.ACTIVE, True, []),
        (Phase.DEGRADED, True, []),
    ],
)
def test_path_to_desired_state(phase: Phase, enabled: bool, events: list[Event]) -> None:
    assert lifecycle.path_to(phase, enabled=enabled) == events
    current = phase
    for event in events:
        current = lifecycle.next_phase(current, event)
    if events:
        assert current is (Phase.ACTIVE if enabled else Phase.INACTIVE)
