"""The spec's plugin health document, from observations (pure: no clock, no I/O).

A plugin's own `health_check()` is one input; the runtime also knows things the plugin cannot see
about itself — its circuit breaker and its recent error rate — and folds them in, so a plugin that
says "healthy" while its queries keep failing is reported as it is.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from plugin_runtime import interface

__all__ = ["aggregate", "combined_status", "document", "format_uptime", "http_status", "iso_time"]

HealthState = interface.HealthState
_SERVING = (HealthState.HEALTHY, HealthState.DEGRADED)


def format_uptime(seconds: float) -> str:
    """`72h15m` — the spec's format."""
    minutes = int(max(seconds, 0) // 60)
    return f"{minutes // 60}h{minutes % 60}m"


def iso_time(epoch_seconds: float | None) -> str | None:
    if epoch_seconds is None:
        return None
    moment = datetime.datetime.fromtimestamp(epoch_seconds, tz=datetime.UTC).replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")


def combined_status(
    reported: HealthState, *, circuit: str, error_rate: float, error_rate_threshold: float
) -> HealthState:
    """Open breaker → unhealthy; half-open or error rate above half the breaker's threshold → degraded."""
    if circuit == "open":
        return HealthState.UNHEALTHY
    if reported is HealthState.HEALTHY and (circuit == "half-open" or error_rate > error_rate_threshold / 2):
        return HealthState.DEGRADED
    return reported


def _dependency(dep: interface.DependencyHealth) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": dep.name,
        "status": str(dep.status),
        "response_time": None if dep.response_time_ms is None else f"{round(dep.response_time_ms)}ms",
    }
    if dep.message:
        body["message"] = dep.message
    return body


def document(
    *,
    plugin_id: str,
    version: str,
    status: HealthState,
    uptime_seconds: float,
    queries_executed: int,
    error_rate: float,
    last_error_at: float | None,
    last_error_message: str | None,
    circuit: str,
    dependencies: Iterable[interface.DependencyHealth],
    cache: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The document; `cache` (its result cache's state and counters) only for plugins that declare one."""
    body = {
        "status": str(status),
        "plugin_id": plugin_id,
        "version": version,
        "uptime": format_uptime(uptime_seconds),
        "queries_executed": queries_executed,
        "error_rate": round(error_rate, 4),
        "last_error": iso_time(last_error_at),
        "last_error_message": last_error_message,
        "circuit": circuit,
        "dependencies": [_dependency(dep) for dep in dependencies],
    }
    if cache is not None:
        body["cache"] = dict(cache)
    return body


def http_status(status: HealthState | str) -> int:
    return 200 if HealthState(status) in _SERVING else 503


def aggregate(statuses: Iterable[HealthState | str]) -> HealthState:
    """The runtime's status: healthy if all are; unhealthy if none serves; degraded in between."""
    states = [HealthState(s) for s in statuses]
    if all(s is HealthState.HEALTHY for s in states):
        return HealthState.HEALTHY
    if not any(s in _SERVING for s in states):
        return HealthState.UNHEALTHY
    return HealthState.DEGRADED
