"""How each outcome of a reconcile reads in the status: pure functions over the `Work` being built.

The reconciler decides nothing here: `decide` says whether a failure fails the plugin, rejects the
change or rolls the rollout back; these functions say what the status, its conditions and the
Events then show, and `settle` turns the observations of a reconcile into the conditions written.
"""

from __future__ import annotations

from plugin_operator import conditions, lifecycle
from plugin_operator.models import ConditionType, LastError, Phase
from plugin_operator.progress import Failed, Work

__all__ = ["error", "failed", "rejected", "rolled_back", "rolling_out", "settle"]


def error(work: Work, reason: str, message: str, *, now: str) -> None:
    """status.lastError: kept after Events expire."""
    work.update(last_error=LastError(time=now, reason=reason, message=message))


def failed(work: Work, failure: Failed, *, now: str) -> None:
    """Nothing good serves: phase Failed (once), every condition concerned says why, a Warning Event."""
    if work.status.phase is not Phase.FAILED:
        work.transition(lifecycle.Event.FAIL)
    work.observe(failure.condition, "False", failure.reason, failure.message)
    if failure.condition is not ConditionType.READY:
        work.observe(ConditionType.READY, "False", failure.reason, failure.message)
    work.observe(ConditionType.PROGRESSING, "False", failure.reason, failure.message)
    error(work, failure.reason, failure.message, now=now)
    work.events.append(("Warning", failure.reason, failure.message))


def rejected(work: Work, failure: Failed, *, now: str) -> None:
    """A spec change that cannot be carried out while a good version serves: it keeps serving, say why."""
    message = f"{failure.message}; version {work.status.serving_version} keeps serving"
    work.observe(ConditionType.PROGRESSING, "False", failure.reason, message)
    error(work, failure.reason, message, now=now)
    work.events.append(("Warning", failure.reason, message))


def rolling_out(work: Work, version: str, *, reload_requested: str | None) -> str:
    """A rollout starts beside the serving version; returns the Event message. A reload request that
    retries a failed rollout is answered by this rollout."""
    if reload_requested:
        work.update(observed_reload=reload_requested)
    work.observe(
        ConditionType.PROGRESSING, "True", "RollingOut", f"rolling out {version} beside {work.status.serving_version}"
    )
    return f"{work.status.serving_version} → {version}: starting beside the old one"


def rolled_back(work: Work, version: str, identity: str, failure: Failed, *, now: str) -> None:
    """The new instance failed its gate and is gone; the old one keeps serving; the version is recorded
    (not retried as is, unless a reload request asks)."""
    work.update(failed_version=version, failed_config_hash=identity)
    work.observe(ConditionType.PROGRESSING, "False", failure.reason, failure.message)
    error(work, failure.reason, failure.message, now=now)
    work.events.append(
        ("Warning", "RolloutFailed", f"{version}: {failure.message}; {work.status.serving_version} keeps serving")
    )


def settle(
    work: Work, *, generation: int | None, now: str, enabled: bool, final: bool, observed: bool, serves: bool = True
) -> None:
    """Merge the reconcile's observations into the conditions (Ready summarises them unless Failed);
    a final write that acted on the spec (`observed`) records its generation. `serves`: the plugin's
    permissions let its queries be executed."""
    merged = conditions.apply(work.status.conditions, work.observations, generation=generation, now=now)
    if work.status.phase is not Phase.FAILED:
        summary = conditions.summary(merged, enabled=enabled, serves=serves)
        merged = conditions.apply(merged, [summary], generation=generation, now=now)
    work.update(
        conditions=merged, observed_generation=generation if final and observed else work.status.observed_generation
    )
    work.observations.clear()
