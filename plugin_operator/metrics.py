"""Operator metrics (Prometheus), served on the API's /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECONCILES = Counter("plugin_operator_reconciles_total", "Plugin reconciles by result.", ["result"])
RECONCILE_SECONDS = Histogram(
    "plugin_operator_reconcile_duration_seconds",
    "Duration of one Plugin reconcile.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
PROBE_SECONDS = Histogram(
    "plugin_operator_health_probe_seconds",
    "Latency of runtime health probes.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 3),
)
PLUGINS_BY_PHASE = Gauge("plugin_operator_plugins", "Plugins by lifecycle phase.", ["phase"])

_phases: dict[str, str] = {}
_PHASES = ("Unloaded", "Loaded", "Initialized", "Active", "Inactive", "Degraded", "Failed")


def set_phase(key: str, phase: str) -> None:
    before = _phases.get(key)
    _phases[key] = phase
    _publish(before, phase)


def forget(key: str) -> None:
    _publish(_phases.pop(key, None), None)


def _publish(before: str | None, after: str | None) -> None:
    """Move one Plugin between the phases' gauges (counting every Plugin each time was quadratic)."""
    if before == after:
        return
    if before in _PHASES:
        PLUGINS_BY_PHASE.labels(phase=before).dec()
    if after in _PHASES:
        PLUGINS_BY_PHASE.labels(phase=after).inc()


for _phase in _PHASES:
    PLUGINS_BY_PHASE.labels(phase=_phase).set(0)


LEADER = Gauge("plugin_operator_leader", "1 while this replica holds the leader Lease and reconciles, else 0.")
LEASE_RENEWED = Gauge(
    "plugin_operator_lease_renewed_timestamp_seconds",
    "Unix time of this replica's last successful leader Lease write (acquire or renew).",
)
LEADER_TRANSITIONS = Counter(
    "plugin_operator_leader_transitions_total", "Times this replica started or stopped leading.", ["change"]
)
DATABASE_UP = Gauge(
    "plugin_operator_database_up", "1 when the last readiness check reached the database, 0 when it did not."
)
