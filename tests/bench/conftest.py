"""Fixtures of the benchmark tests: each benchmark run once per session on tiny sizes.

These check that the benchmarks work end to end and report in the agreed form; they time nothing
and assert no performance target. They need the same services as `make bench` (Prometheus,
PostgreSQL) and fail, never skip, when one is missing.
"""

from __future__ import annotations

import pytest

from bench import (
    adapter_overhead,
    cache,
    cold_load,
    health_load,
    load,
    operator_scale,
    paging,
    runtime,
    sandbox,
    translation,
)


@pytest.fixture(scope="session")
def overhead_rounds() -> int:
    return 2


@pytest.fixture(scope="session")
def scale_plugins() -> int:
    return 3


@pytest.fixture(scope="session")
def load_lines() -> list[str]:
    return load.run(clients=4, good_requests=40, failing_clients=2, failing_requests=20, rounds=1)


@pytest.fixture(scope="session")
def overhead_lines(overhead_rounds: int) -> list[str]:
    return adapter_overhead.run(rounds=overhead_rounds, cpu_requests=5, warmup=1)


@pytest.fixture(scope="session")
def scale_lines(scale_plugins: int) -> list[str]:
    return operator_scale.run(sizes=(scale_plugins,))


@pytest.fixture(scope="session")
def all_lines(overhead_lines: list[str], scale_lines: list[str], load_lines: list[str]) -> list[str]:
    """What `python -m bench` collects, from tiny runs (bench.runtime has no size to shrink: 5 s)."""
    cache_lines = cache.run(misses=20, hits=20)
    sandbox_lines = sandbox.run(pods=2, round_trips=5)
    perf = paging.run(series=5, points=500, rounds=1) + cold_load.run(rounds=1)
    perf += health_load.run(rate=100, duration=1.0, warmup=0.2)
    return (
        translation.run(rounds=1)
        + runtime.run()
        + sandbox_lines
        + cache_lines
        + overhead_lines
        + scale_lines
        + load_lines
        + perf
    )
