"""`/health` of a runtime serving a few plugins, under an open-loop load of 500 requests a second.

A real `plugin-runtime` process on loopback hosts three plugins (two localsql, the hello-world
example). The client (aiohttp, in this process, up to 64 keep-alive connections) sends request i at
`start + i / RATE` whether or not earlier ones have been answered, and a request's latency runs from
that *scheduled* time to its last byte, so a stall of the server counts for every request that
should have been sent during it (no coordinated omission). One warm-up second is not counted, then
DURATION seconds are. Target: p99 < 5 ms at 500 req/s offered.

The floor is one HTTP request to a Python server on a loaded 2-core machine (the client shares the
cores); `/health/live`, which computes nothing, is measured the same way to show it.
Run with `python -m bench.health_load`.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import aiohttp

from bench import runtime_process

RATE = 500.0
DURATION = 10.0
WARMUP = 1.0
CONNECTIONS = 64
TARGET_MS = 5.0
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "plugins"


def _query(name: str) -> dict[str, str]:
    return {
        "id": f"gts.hypernetix.hyperspot.ax.query.v1~hyperspot.bench._.{name}.v1",
        "name": name,
        "category": "bench",
        "api_endpoint": f"/bench/{name}",
        "capabilities_id": "gts.hypernetix.hyperspot.ax.query_capabilities.v1~hyperspot.bench._.default.v1",
        "returns_schema_id": f"gts.hypernetix.hyperspot.ax.schema.v1~hyperspot.bench._.{name}.v1~",
    }


RUNTIME_CONFIG = {
    "plugins_dir": str(EXAMPLES),
    "watch_interval_seconds": 60,
    "plugins": [
        {"id": "metrics-a", "version": "0.1.0", "adapter": "localsql", "queries": [_query("metrics_a")]},
        {"id": "metrics-b", "version": "0.1.0", "adapter": "localsql", "queries": [_query("metrics_b")]},
        {"id": "hello-world", "version": "1.0.0", "path": "hello-world"},
    ],
}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def open_loop(url: str, path: str, *, rate: float, duration: float, warmup: float) -> tuple[list[float], int]:
    """Latencies (ms, from each request's scheduled send time) after the warm-up, and the failures."""
    latencies: list[float] = []
    failures = 0
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    async with aiohttp.ClientSession(url, connector=connector) as session:

        async def one(scheduled: float, counted: bool) -> None:
            nonlocal failures
            try:
                async with session.get(path) as response:
                    await response.read()
                    ok = response.status == 200
            except aiohttp.ClientError:
                ok = False
            if counted:
                latencies.append((time.perf_counter() - scheduled) * 1000)
                failures += not ok

        tasks = []
        start = time.perf_counter() + 0.05
        total = int((warmup + duration) * rate)
        for i in range(total):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(scheduled, i >= warmup * rate)))
        await asyncio.gather(*tasks)
    return latencies, failures


def _line(path: str, latencies: list[float], failures: int, rate: float) -> str:
    p50, p99, worst = percentile(latencies, 0.5), percentile(latencies, 0.99), max(latencies)
    return (
        f"runtime {path} at {rate:.0f} req/s offered: p99 {p99:.2f} ms (p50 {p50:.2f} ms, max {worst:.1f} ms, "
        f"{len(latencies)} requests, {failures} failed)"
    )


def run(*, rate: float = RATE, duration: float = DURATION, warmup: float = WARMUP) -> list[str]:
    load = os.getloadavg()[0]
    lines = [f"health under load on {os.cpu_count()} cores, load average {load:.2f} at start"]
    with runtime_process.running_runtime(RUNTIME_CONFIG, ready_path="/health") as url:
        for path in ("/health", "/health/live"):
            latencies, failures = asyncio.run(open_loop(url, path, rate=rate, duration=duration, warmup=warmup))
            line = _line(path, latencies, failures, rate)
            lines.append(line + (f"; target p99 < {TARGET_MS:g} ms" if path == "/health" else ""))
            if failures:
                raise RuntimeError(f"{failures} requests to {path} failed: {line}")
    return lines


if __name__ == "__main__":
    print("\n".join(run()))
