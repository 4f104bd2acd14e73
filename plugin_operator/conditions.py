"""Status conditions following the Kubernetes API conventions, computed purely from observations.

`lastTransitionTime` only moves when a condition's status flips, so `kubectl describe` tells when a
plugin actually became unready, not when it was last reconciled. Ready summarises the others.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from plugin_operator import permissions
from plugin_operator.models import Condition, ConditionStatus, ConditionType

_COMPONENTS = (
    ConditionType.RUNTIME_READY,
    ConditionType.BACKEND_HEALTHY,
    ConditionType.REGISTERED,
)


@dataclasses.dataclass(frozen=True)
class Observation:
    type: ConditionType
    status: ConditionStatus
    reason: str
    message: str = ""


def initial(generation: int | None, now: str) -> list[Condition]:
    """Every condition Unknown, as set on the first reconcile."""
    return [
        Condition(
            type=kind,
            status="Unknown",
            reason="Reconciling",
            message="not observed yet",
            last_transition_time=now,
            observed_generation=generation,
        )
        for kind in (ConditionType.READY, *_COMPONENTS, ConditionType.PROGRESSING)
    ]


def apply(
    conditions: Sequence[Condition], observations: Iterable[Observation], *, generation: int | None, now: str
) -> list[Condition]:
    """Merge observations into conditions (missing types start Unknown); keep times of unchanged statuses."""
    by_type = {c.type: c for c in (conditions or initial(generation, now))}
    for kind in (ConditionType.READY, *_COMPONENTS, ConditionType.PROGRESSING):
        by_type.setdefault(kind, initial(generation, now)[0].model_copy(update={"type": kind}))
    for obs in observations:
        previous = by_type.get(obs.type)  # an optional type (Isolated) may be new
        by_type[obs.type] = Condition(
            type=obs.type,
            status=obs.status,
            reason=obs.reason,
            message=obs.message,
            last_transition_time=(
                previous.last_transition_time if previous is not None and previous.status == obs.status else now
            ),
            observed_generation=generation,
        )
    fixed = (ConditionType.READY, *_COMPONENTS, ConditionType.PROGRESSING)
    return [by_type[k] for k in fixed] + [c for k, c in by_type.items() if k not in fixed]


def get(conditions: Sequence[Condition], kind: ConditionType) -> Condition | None:
    return next((c for c in conditions if c.type == kind), None)


def summary(conditions: Sequence[Condition], *, enabled: bool, serves: bool = True) -> Observation:
    """Ready is True when the runtime is up, its backend healthy and its entities registered.

    A disabled plugin is Ready=False with reason Disabled: it deliberately accepts no queries; so is
    one whose permissions lack execute (`serves` False: ExecuteNotPermitted, see `permissions`).
    The first component that is not True supplies the reason and message.
    """
    for kind in _COMPONENTS:
        condition = get(conditions, kind)
        if condition is None or condition.status != "True":
            if condition is None:
                return Observation(ConditionType.READY, "Unknown", "Reconciling", f"{kind.value} not observed yet")
            status: ConditionStatus = "False" if condition.status == "False" else "Unknown"
            return Observation(ConditionType.READY, status, condition.reason, condition.message)
    if not enabled:
        return Observation(ConditionType.READY, "False", "Disabled", "plugin is disabled: no new queries accepted")
    if not serves:
        return Observation(ConditionType.READY, "False", permissions.NOT_SERVED, permissions.NOT_SERVED_MESSAGE)
    return Observation(ConditionType.READY, "True", "Active", "plugin is serving queries")
