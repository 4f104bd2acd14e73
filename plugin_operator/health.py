"""From one health probe and the previous report to the next report, conditions and lifecycle event.

Pure: the health monitor feeds it probe results and writes what it returns. A single bad probe does
not flap the plugin: only `unhealthy_after` consecutive failures make it Degraded; one good probe
recovers it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from plugin_operator import lifecycle
from plugin_operator.conditions import Observation
from plugin_operator.models import ConditionType, DependencyStatus, HealthReport, Phase
from plugin_operator.runtime_client import ProbeResult
from plugin_runtime import interface
from plugin_runtime.interface import HealthState

_STATES = frozenset(state.value for state in HealthState)


@dataclasses.dataclass(frozen=True)
class Assessment:
    report: HealthReport
    observations: tuple[Observation, ...]
    event: lifecycle.Event | None
    runtime_gone: bool


def _state(reported: object) -> HealthState:
    """The state a runtime reported; anything that is not one is unknown."""
    return HealthState(reported) if isinstance(reported, str) and reported in _STATES else HealthState.UNKNOWN


def _dependencies(document: dict[str, Any] | None) -> list[DependencyStatus]:
    result = []
    for dep in (document or {}).get("dependencies") or []:
        if isinstance(dep, dict) and dep.get("name"):
            result.append(
                DependencyStatus(
                    name=str(dep["name"]),
                    status=_state(dep.get("status")),
                    response_time=str(dep["response_time"]) if dep.get("response_time") is not None else None,
                    message=str(dep["message"]) if dep.get("message") else None,
                )
            )
    return result


def assess(previous: HealthReport, probe: ProbeResult, *, phase: Phase, now: str, unhealthy_after: int) -> Assessment:
    doc = probe.document or {}
    state = _state(probe.status)
    failing = not probe.reachable or state in (HealthState.UNHEALTHY, HealthState.UNKNOWN)
    failures = previous.consecutive_failures + 1 if failing else 0
    report = HealthReport(
        status=state,
        uptime=doc.get("uptime") if probe.reachable else previous.uptime,
        queries_executed=doc.get("queries_executed", previous.queries_executed),
        error_rate=doc.get("error_rate", previous.error_rate),
        last_error=doc.get("last_error") or previous.last_error,
        checked_at=now,
        consecutive_failures=failures,
        circuit=doc.get("circuit"),
        dependencies=_dependencies(doc) if probe.reachable else previous.dependencies,
    )
    observations: list[Observation] = []
    if not probe.reachable:
        observations.append(
            Observation(ConditionType.RUNTIME_READY, "False", "RuntimeUnreachable", probe.error or "no answer")
        )
    else:
        observations.append(Observation(ConditionType.RUNTIME_READY, "True", "RuntimeUp", "runtime answers"))
        if state is HealthState.HEALTHY:
            observations.append(
                Observation(ConditionType.BACKEND_HEALTHY, "True", "Healthy", "all dependencies healthy")
            )
        elif state is HealthState.DEGRADED:
            observations.append(
                Observation(ConditionType.BACKEND_HEALTHY, "True", "Degraded", probe.error or "plugin degraded")
            )
        elif failures >= unhealthy_after:
            refused = [d for d in report.dependencies if (d.message or "").startswith(interface.AUTH_FAILED)]
            reason = "CircuitOpen" if doc.get("circuit") == "open" else "BackendAuthFailed" if refused else "Unhealthy"
            message = refused[0].message if refused else probe.error or f"health is {state.value}"
            observations.append(
                Observation(
                    ConditionType.BACKEND_HEALTHY, "False", reason, f"{message} ({failures} consecutive probes)"
                )
            )
    event: lifecycle.Event | None = None
    degrade = state is HealthState.DEGRADED or failures >= unhealthy_after
    if phase is Phase.ACTIVE and degrade:
        event = lifecycle.Event.DEGRADE
    elif phase is Phase.DEGRADED and probe.reachable and state is HealthState.HEALTHY:
        event = lifecycle.Event.RECOVER
    return Assessment(report, tuple(observations), event, runtime_gone=not probe.reachable)
