"""Plugin runtime `/health` latency, closed loop: 100 concurrent clients, and one client.

`/health` (aggregate health of a runtime hosting the local datasource plugin): a real
`plugin-runtime` process on loopback, and 100 client tasks (one keep-alive connection each, aiohttp)
sending 5,000 requests in total, back to back. Latency is wall time per request as the client
sees it. The client shares the machine's cores with the server, and with 100 requests always
outstanding each one also waits for the 99 ahead of it (latency ≈ 100 / throughput), so the same
run is repeated with one client to show the unloaded cost of a request. No target: the target for
`/health` under load is open loop, at an offered rate (`bench.health_load`, issue #16 goal 7); a
plugin's load + init is measured by `bench.cold_load` (goal 6).

Run with `python -m bench.runtime`.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import aiohttp

from bench import runtime_process

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "plugins"
CLIENTS = 100
REQUESTS = 5_000

_QUERY = {
    "id": "gts.hypernetix.hyperspot.ax.query.v1~hyperspot.bench._.server_metrics.v1",
    "name": "Server metrics",
    "category": "bench",
    "api_endpoint": "/bench/server-metrics",
    "capabilities_id": "gts.hypernetix.hyperspot.ax.query_capabilities.v1~hyperspot.bench._.default.v1",
    "returns_schema_id": "gts.hypernetix.hyperspot.ax.schema.v1~hyperspot.bench._.server_metrics.v1~",
}
_RUNTIME_CONFIG = {
    "plugins_dir": str(EXAMPLES),
    "watch_interval_seconds": 60,
    "plugins": [
        {"id": "local-metrics", "version": "0.1.0", "adapter": "localsql", "queries": [_QUERY]},
        {"id": "hello-world", "version": "1.0.0", "path": "hello-world"},
    ],
}


async def _measure(url: str, *, clients: int, requests: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    per_client = requests // clients
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(url, connector=connector) as session:

        async def get(path: str) -> float:
            started = time.perf_counter()
            async with session.get(path) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"{path} answered {response.status}")
            return (time.perf_counter() - started) * 1000

        async def one_client() -> None:
            for _ in range(per_client):
                latencies.append(await get("/health"))

        await asyncio.gather(*(get("/health/live") for _ in range(clients)))  # open the connections
        started = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return latencies, len(latencies) / elapsed


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def health_latency() -> list[str]:
    with runtime_process.running_runtime(_RUNTIME_CONFIG, ready_path="/health") as url:
        loaded, rate = asyncio.run(_measure(url, clients=CLIENTS, requests=REQUESTS))
        alone, alone_rate = asyncio.run(_measure(url, clients=1, requests=500))
    p99 = _percentile(loaded, 0.99)
    return [
        f"runtime /health @{CLIENTS} clients: p50 {_percentile(loaded, 0.5):.2f} ms, p99 {p99:.2f} ms "
        f"over {len(loaded)} requests ({rate:.0f} req/s)",
        f"runtime /health @1 client: p50 {_percentile(alone, 0.5):.2f} ms, p99 {_percentile(alone, 0.99):.2f} ms "
        f"over {len(alone)} requests ({alone_rate:.0f} req/s)",
        f"  how: a plugin-runtime process (uvicorn with httptools) hosting localsql + hello-world on loopback; "
        f"an aiohttp client "
        f"with {CLIENTS} keep-alive connections in this process, each sending requests back to back; wall time per "
        f"request at the client. At {CLIENTS} clients latency ≈ {CLIENTS} / throughput (queueing), so the 1-client "
        f"figure is the per-request cost.",
    ]


def run() -> list[str]:
    load = os.getloadavg()[0]  # other work on the machine shows up in every figure below
    context = f"runtime bench on {os.cpu_count()} cores, load average {load:.2f} at start"
    return [context, *health_latency()]


if __name__ == "__main__":
    print("\n".join(run()))
