"""What one reconcile does, decided from the status and what was observed: a `Plan` of steps.

Pure: the reconciler observes (the Plugin, the serving and the desired instance, a reload request),
calls `decide`, and executes the steps in order; every phase change is a `TRANSITION` step through
`lifecycle`. When a step fails, `on_failure` says what the failure means for this plan: a rollout
rolls back (the old instance keeps serving), anything else fails the plugin.

    path        when                                         steps
    first-load  nothing serves yet                           start, check, LOAD, gate, register, INIT, promote, …
    roll-out    a new instance (spec changed)                start, check, gate+smoke, register, promote, drain old, …
    steady      the serving instance is the desired one      restart if gone, register, reload, …
    hold        the desired instance failed its rollout      keep the old one serving (first-load if it is gone)

`…` is the enable/disable step and a health probe. Loaded and Initialized are written to the status
as they are reached (`publish`), so they are observable.

Before a plan, `admission` and `dependencies` decide whether the spec may be acted on at all.
"""

from __future__ import annotations

import dataclasses
import enum

from plugin_operator import lifecycle
from plugin_operator.desired import instance_id
from plugin_operator.lifecycle import Event
from plugin_operator.models import Phase, PluginStatus

__all__ = [
    "Kind",
    "Observed",
    "Outcome",
    "Path",
    "Plan",
    "Step",
    "decide",
    "monitored",
    "on_failure",
    "on_problem",
    "retry_event",
    "serving_instance",
]


class Path(enum.StrEnum):
    FIRST_LOAD = "first-load"
    ROLL_OUT = "roll-out"
    STEADY = "steady"
    HOLD = "hold"


class Kind(enum.StrEnum):
    TRANSITION = "transition"  # a lifecycle event (`event`); `publish` writes the status at once
    FORGET = "forget"  # the serving instance is gone and its version failed: serve nothing, load anew
    START = "start"  # start the desired instance (beside the serving one on a rollout)
    CHECK = "check"  # the runtime loaded the plugin, and its code is the version asked for
    GATE = "gate"  # consecutive good probes (and a smoke query on a rollout)
    REGISTER = "register"  # own the declared GTS entities at this version
    PROMOTE = "promote"  # route the plugin's stable address to the desired instance
    DRAIN = "drain"  # let the old instance finish in-flight queries, then stop it
    RESTART = "restart"  # the serving instance is gone: start it again (with backoff)
    RELOAD = "reload"  # an admin asked for a reload (POST …/reload)
    ENABLE = "enable"  # tell the runtime to serve
    DISABLE = "disable"  # tell the runtime to stop serving; drain, then suspend
    PROBE = "probe"  # one health probe into the status


@dataclasses.dataclass(frozen=True)
class Step:
    kind: Kind
    event: Event | None = None
    publish: bool = False


@dataclasses.dataclass(frozen=True)
class Observed:
    """What the reconciler saw before deciding."""

    generation: int | None
    version: str
    identity: str
    enabled: bool
    #: The serving instance (status.servingVersion + configHash) runs.
    serving_running: bool
    #: The desired instance runs (the same as `serving_running` when they are one instance).
    desired_running: bool
    #: An unanswered reload request (the annotation's value), if any.
    reload_requested: str | None = None

    @property
    def instance_id(self) -> str:
        return instance_id(self.version, self.identity)


@dataclasses.dataclass(frozen=True)
class Plan:
    path: Path
    steps: tuple[Step, ...]
    #: The instance serving before this plan (drained after a promotion), if any.
    serving: str | None = None
    #: A smoke query is part of the gate (a rollout beside a serving instance).
    smoke: bool = False

    @property
    def kinds(self) -> tuple[Kind, ...]:
        return tuple(step.kind for step in self.steps)


class Outcome(enum.StrEnum):
    """What a failure means for the plugin."""

    ROLLBACK = "rollback"  # the new instance failed: stop it, record the failed version, the old one serves
    REJECT = "reject"  # the spec cannot be carried out (invalid, conflict…): the good version keeps serving
    FAIL = "fail"  # nothing serves: phase Failed until the spec changes (or a reload request)


def retry_event(status: PluginStatus, generation: int | None) -> Event | None:
    """A Failed plugin whose spec changed since leaves Failed before anything else is decided, so a
    precondition that now only waits (a dependency starting) shows no stale failure."""
    if status.phase is Phase.FAILED and status.observed_generation != generation:
        return Event.RETRY
    return None


def monitored(status: PluginStatus) -> bool:
    """Whether the health monitor probes the plugin: something was promoted and should be running."""
    return status.phase not in (Phase.FAILED, Phase.UNLOADED, Phase.INACTIVE) and bool(status.config_hash)


def serving_instance(status: PluginStatus) -> str | None:
    if status.serving_version and status.config_hash:
        return instance_id(status.serving_version, status.config_hash)
    return None


def decide(status: PluginStatus, observed: Observed) -> Plan:
    serving = serving_instance(status)
    if serving is None:
        return _first_load(status.phase, observed)
    if serving == observed.instance_id:
        return _steady(status.phase, observed, serving)
    if _already_failed(status, observed):
        if not observed.serving_running:  # nothing left to protect: load the new version afresh
            plan = _first_load(status.phase, observed)
            return dataclasses.replace(plan, path=Path.HOLD, steps=(Step(Kind.FORGET), *plan.steps))
        return Plan(Path.HOLD, (*_enabled_steps(status.phase, observed.enabled), *_probe(observed.enabled)), serving)
    return _roll_out(status.phase, observed, serving)


def on_failure(plan: Plan, *, serving_running: bool) -> Outcome:
    """A rollout beside a serving instance rolls back; every other failure fails the plugin."""
    if plan.path is Path.ROLL_OUT and serving_running:
        return Outcome.ROLLBACK
    return Outcome.FAIL


def on_problem(status: PluginStatus, *, serving_running: bool) -> Outcome:
    """A spec that cannot be carried out (found before any step ran, or failing a non-rollout plan):
    rejected while a good version serves, else the plugin fails."""
    if status.phase is not Phase.FAILED and serving_instance(status) is not None and serving_running:
        return Outcome.REJECT
    return Outcome.FAIL


def _already_failed(status: PluginStatus, observed: Observed) -> bool:
    """This exact instance failed its rollout; a reload request retries it."""
    return (
        observed.reload_requested is None
        and status.failed_version == observed.version
        and status.failed_config_hash == observed.identity
    )


def _to_unloaded(phase: Phase) -> list[Step]:
    if phase is Phase.FAILED:
        return [Step(Kind.TRANSITION, Event.RETRY)]
    if phase is Phase.UNLOADED:
        return []
    return [Step(Kind.TRANSITION, Event.UNLOAD)]


def _first_load(phase: Phase, observed: Observed) -> Plan:
    steps = [
        *_to_unloaded(phase),
        Step(Kind.START),
        Step(Kind.CHECK),
        Step(Kind.TRANSITION, Event.LOAD, publish=True),
        Step(Kind.GATE),
        Step(Kind.REGISTER),
        Step(Kind.TRANSITION, Event.INIT, publish=True),
        Step(Kind.PROMOTE),
        *_enabled_steps(Phase.INITIALIZED, observed.enabled),
        *_probe(observed.enabled),
    ]
    return Plan(Path.FIRST_LOAD, tuple(steps))


def _roll_out(phase: Phase, observed: Observed, serving: str) -> Plan:
    """Beside the serving instance; a plugin that was not serving (Failed, Unloaded) walks the lifecycle."""
    walk = phase in (Phase.FAILED, Phase.UNLOADED, Phase.LOADED)
    steps = [
        *(_to_unloaded(phase) if walk and phase is not Phase.LOADED else []),
        Step(Kind.START),
        Step(Kind.CHECK),
        *([Step(Kind.TRANSITION, Event.LOAD, publish=True)] if walk and phase is not Phase.LOADED else []),
        Step(Kind.GATE),
        Step(Kind.REGISTER),
        *([Step(Kind.TRANSITION, Event.INIT, publish=True)] if walk else []),
        Step(Kind.PROMOTE),
        *([Step(Kind.DRAIN)] if observed.serving_running else []),
        *_enabled_steps(Phase.INITIALIZED if walk else phase, observed.enabled),
        *_probe(observed.enabled),
    ]
    return Plan(Path.ROLL_OUT, tuple(steps), serving, smoke=True)


def _steady(phase: Phase, observed: Observed, serving: str) -> Plan:
    running = observed.desired_running
    steps: list[Step] = []
    if not running and observed.enabled:
        steps.append(Step(Kind.RESTART))
        running = True
    if running and phase in (Phase.FAILED, Phase.UNLOADED, Phase.LOADED):
        # A runtime serves this very instance (e.g. after a transient failure): walk back up.
        steps += [Step(Kind.TRANSITION, e, publish=True) for e in _walk_to_initialized(phase)]
        phase = Phase.INITIALIZED
    if running:
        steps.append(Step(Kind.REGISTER))
        if observed.reload_requested is not None:
            steps.append(Step(Kind.RELOAD))
    if not running and phase in (Phase.FAILED, Phase.UNLOADED, Phase.LOADED):
        # Disabled and nothing runs: Inactive is exactly that (the lifecycle's Unloaded → Inactive).
        steps += _to_unloaded(phase)
        phase = Phase.UNLOADED
    steps += _enabled_steps(phase, observed.enabled)
    if running:
        steps += _probe(observed.enabled)
    return Plan(Path.STEADY, tuple(steps), serving)


def _walk_to_initialized(phase: Phase) -> list[Event]:
    return [e for e in lifecycle.path_to(phase, enabled=True) if e in (Event.RETRY, Event.LOAD, Event.INIT)]


def _enabled_steps(phase: Phase, enabled: bool) -> list[Step]:
    """Enable from Initialized/Inactive; disable from anything but Inactive (draining stays idempotent)."""
    if enabled:
        if phase in (Phase.INITIALIZED, Phase.INACTIVE):
            return [Step(Kind.ENABLE, Event.ENABLE)]
        return [Step(Kind.ENABLE)]
    if phase is Phase.INACTIVE:
        return [Step(Kind.DISABLE)]
    return [Step(Kind.DISABLE, Event.DISABLE)]


def _probe(enabled: bool) -> list[Step]:
    return [Step(Kind.PROBE)] if enabled else []
