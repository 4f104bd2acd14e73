"""How the runtime judges a plugin's health, and the spec's document format (pure rules)."""

from __future__ import annotations

import pytest

from plugin_runtime import health, interface

H = interface.HealthState


@pytest.mark.parametrize(
    ("reported", "circuit", "error_rate", "expected"),
    [
        (H.HEALTHY, "closed", 0.0, H.HEALTHY),
        (H.HEALTHY, "closed", 0.25, H.HEALTHY),  # exactly half the 0.5 threshold: still fine
        (H.HEALTHY, "closed", 0.26, H.DEGRADED),
        (H.HEALTHY, "half-open", 0.0, H.DEGRADED),
        (H.HEALTHY, "open", 0.0, H.UNHEALTHY),
        (H.DEGRADED, "closed", 0.0, H.DEGRADED),
        (H.UNKNOWN, "closed", 0.0, H.UNKNOWN),
        (H.UNHEALTHY, "closed", 0.0, H.UNHEALTHY),
        (H.UNKNOWN, "open", 0.0, H.UNHEALTHY),
    ],
)
def test_combined_status(reported: H, circuit: str, error_rate: float, expected: H) -> None:
    assert (
        health.combined_status(reported, circuit=circuit, error_rate=error_rate, error_rate_threshold=0.5) is expected
    )


@pytest.mark.parametrize(
    ("status", "code"), [(H.HEALTHY, 200), (H.DEGRADED, 200), (H.UNHEALTHY, 503), (H.UNKNOWN, 503)]
)
def test_http_status(status: H, code: int) -> None:
    assert health.http_status(status) == code


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], H.HEALTHY),
        ([H.HEALTHY, H.HEALTHY], H.HEALTHY),
        ([H.HEALTHY, H.UNHEALTHY], H.DEGRADED),
        ([H.DEGRADED], H.DEGRADED),
        ([H.UNHEALTHY, H.UNKNOWN], H.UNHEALTHY),
    ],
)
def test_aggregate(statuses: list[H], expected: H) -> None:
    assert health.aggregate(statuses) is expected


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0h0m"), (59, "0h0m"), (61, "0h1m"), (72 * 3600 + 15 * 60 + 30, "72h15m")]
)
def test_uptime_format(seconds: float, text: str) -> None:
    assert health.format_uptime(seconds) == text


def test_document_matches_the_spec_example() -> None:
    doc = health.document(
        plugin_id="prometheus-adapter",
        version="1.0.0",
        status=H.HEALTHY,
        uptime_seconds=72 * 3600 + 15 * 60,
        queries_executed=15234,
        error_rate=0.02,
        last_error_at=1704708930.0,
        last_error_message="Prometheus answered 503",
        circuit="closed",
        dependencies=[interface.DependencyHealth("Prometheus API", H.HEALTHY, response_time_ms=45.4)],
    )
    assert doc == {
        "status": "healthy",
        "plugin_id": "prometheus-adapter",
        "version": "1.0.0",
        "uptime": "72h15m",
        "queries_executed": 15234,
        "error_rate": 0.02,
        "last_error": "2024-01-08T10:15:30Z",
        "last_error_message": "Prometheus answered 503",
        "circuit": "closed",
        "dependencies": [{"name": "Prometheus API", "status": "healthy", "response_time": "45ms"}],
    }
