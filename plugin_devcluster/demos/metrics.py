"""Generated node CPU counters for the Prometheus demo: the same function of wall-clock time for the
backfilled history and the live exporter Prometheus scrapes, so the series run on without a seam.

Each series `node_cpu_seconds_total{job, instance, cpu, mode}` grows at a rate that swings slowly
around a base (never below zero, so it stays a counter): `rate(...[5m])` shows curves, not flat lines.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

FAMILY = "node_cpu_seconds"  # OpenMetrics names the counter family without `_total`
METRIC = f"{FAMILY}_total"
INSTANCES = {"api": ("api-1:9100", "api-2:9100"), "db": ("db-1:9100",), "web": ("web-1:9100",)}
CPUS = ("0", "1")
MODES = {"user": 0.35, "system": 0.12, "idle": 0.5}  # base seconds per second
_PERIOD_SECONDS = 1800.0


def series() -> Iterator[tuple[str, str, str, str]]:
    """(job, instance, cpu, mode) of every generated series."""
    for job, instances in INSTANCES.items():
        for instance in instances:
            for cpu in CPUS:
                for mode in MODES:
                    yield job, instance, cpu, mode


def counter(instance: str, cpu: str, mode: str, at: float) -> float:
    """The counter's value at `at` (Unix seconds): the integral of base + amplitude·sin, with a phase per series."""
    base = MODES[mode]
    amplitude = base * 0.8
    phase = (sum(map(ord, instance + cpu)) % 17) / 17 * 2 * math.pi
    omega = 2 * math.pi / _PERIOD_SECONDS
    return base * at - amplitude / omega * math.cos(omega * at + phase) + amplitude / omega


def _labels(instance: str, cpu: str, mode: str) -> str:
    return f'instance="{instance}",cpu="{cpu}",mode="{mode}"'


def openmetrics_history(start: float, end: float, step: float) -> str:
    """Samples every `step` seconds from `start` to `end`, as OpenMetrics text for `promtool` backfilling."""
    lines = [f"# TYPE {FAMILY} counter"]
    count = int((end - start) // step) + 1
    for job, instance, cpu, mode in series():
        labels = f'job="{job}",{_labels(instance, cpu, mode)}'
        for i in range(count):
            at = start + i * step
            lines.append(f"{METRIC}{{{labels}}} {counter(instance, cpu, mode, at):.3f} {at:.3f}")
    return "\n".join(lines) + "\n# EOF\n"


def exposition(job: str, at: float) -> str:
    """The Prometheus text exposition of one job's series at `at` (scraped with honor_labels)."""
    lines = [f"# TYPE {METRIC} counter"]
    for instance in INSTANCES[job]:
        for cpu in CPUS:
            for mode in MODES:
                lines.append(f"{METRIC}{{{_labels(instance, cpu, mode)}}} {counter(instance, cpu, mode, at):.3f}")
    return "\n".join(lines) + "\n"


def exporter() -> Starlette:
    """`GET /metrics/{job}`: the live exposition Prometheus scrapes."""

    async def scrape(request: Request) -> Response:
        job = request.path_params["job"]
        if job not in INSTANCES:
            return PlainTextResponse(f"unknown job {job}\n", status_code=404)
        return PlainTextResponse(exposition(job, time.time()), media_type="text/plain; version=0.0.4")

    return Starlette(routes=[Route("/metrics/{job}", scrape)])
