"""The plugin lifecycle of the spec's section D as a pure state machine.

    Unloaded → (load) → Loaded → (init) → Initialized → (enable) → Active ⇄ (disable/enable) ⇄ Inactive
    Active → (unload) → Unloaded

Extensions the operator needs, kept explicit rather than implied: a plugin created with
`enabled: false` goes Initialized → Inactive; a disabled plugin with no runtime (its runtime is
suspended, so it needs none) goes Unloaded → Inactive; health moves Active ⇄ Degraded; any state can fail
(→ Failed) and be unloaded (removal); a Failed plugin is retried from Unloaded once its spec changes.
Everything else is an `IllegalTransition`.
"""

from __future__ import annotations

import enum

from plugin_operator.models import Phase


class Event(enum.StrEnum):
    LOAD = "load"
    INIT = "init"
    ENABLE = "enable"
    DISABLE = "disable"
    UNLOAD = "unload"
    DEGRADE = "degrade"
    RECOVER = "recover"
    FAIL = "fail"
    RETRY = "retry"


class IllegalTransition(ValueError):
    def __init__(self, phase: Phase, event: Event) -> None:
        self.phase, self.event = phase, event
        super().__init__(f"cannot {event.value} a plugin that is {phase.value}")


_TRANSITIONS: dict[tuple[Phase, Event], Phase] = {
    (Phase.UNLOADED, Event.LOAD): Phase.LOADED,
    (Phase.LOADED, Event.INIT): Phase.INITIALIZED,
    (Phase.INITIALIZED, Event.ENABLE): Phase.ACTIVE,
    (Phase.INITIALIZED, Event.DISABLE): Phase.INACTIVE,
    (Phase.UNLOADED, Event.DISABLE): Phase.INACTIVE,
    (Phase.ACTIVE, Event.DISABLE): Phase.INACTIVE,
    (Phase.INACTIVE, Event.ENABLE): Phase.ACTIVE,
    (Phase.ACTIVE, Event.DEGRADE): Phase.DEGRADED,
    (Phase.DEGRADED, Event.RECOVER): Phase.ACTIVE,
    (Phase.DEGRADED, Event.DISABLE): Phase.INACTIVE,
    (Phase.FAILED, Event.RETRY): Phase.UNLOADED,
}
for _phase in Phase:
    if _phase is not Phase.UNLOADED:
        _TRANSITIONS[(_phase, Event.UNLOAD)] = Phase.UNLOADED
    if _phase is not Phase.FAILED:
        _TRANSITIONS[(_phase, Event.FAIL)] = Phase.FAILED


def next_phase(phase: Phase, event: Event) -> Phase:
    try:
        return _TRANSITIONS[(phase, event)]
    except KeyError:
        raise IllegalTransition(phase, event) from None


def path_to(phase: Phase, *, enabled: bool) -> list[Event]:
    """The events that bring a healthy, loadable plugin from `phase` to its desired serving state."""
    target = Phase.ACTIVE if enabled else Phase.INACTIVE
    events: list[Event] = []
    current = phase
    if current is Phase.FAILED:
        events.append(Event.RETRY)
        current = Phase.UNLOADED
    order = {Phase.UNLOADED: Event.LOAD, Phase.LOADED: Event.INIT}
    while current in order:
        events.append(order[current])
        current = next_phase(current, order[current])
    if current is Phase.DEGRADED and enabled:
        return events  # health, not the spec, decides when a degraded plugin recovers
    if current is not target:
        events.append(Event.ENABLE if enabled else Event.DISABLE)
        next_phase(current, events[-1])
    return events
