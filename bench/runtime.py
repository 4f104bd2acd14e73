"""Plugin runtime figures: `/health` latency under 100 concurrent clients, and plugin load + init time.

1. `/health` (aggregate health of a runtime hosting the local datasource plugin): a real
   `plugin-runtime` process on loopback, and 100 client tasks (one keep-alive connection each, aiohttp)
   sending 5,000 requests in total, back to back. Latency is wall time per request as the client
   sees it. The client shares the machine's cores with the server, and with 100 requests always
   outstanding each one also waits for the 99 ahead of it, so the same run is repeated with one
   client to show the unloaded cost of a request. Target: p99 < 5 ms at 100 clients.
2. Load + init of one plugin (localsql through its entry point, the hello-world example from its
   plugins-directory folder), no network: `loader.load` timed in a fresh interpreter whose runtime
   modules are already imported — cold (the plugin's own imports included, once) and warm (the
   median of 20 further loads, each building a new instance). Target: < 50 ms per plugin.

Run with `python -m bench.runtime`.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from bench import runtime_process

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "plugins"
CLIENTS = 100
REQUESTS = 5_000
HEALTH_TARGET_MS = 5.0
LOAD_TARGET_MS = 50.0
WARM_LOADS = 20

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

# Runs in a fresh interpreter: imports the runtime first, so only the plugin's own cost is timed.
_LOAD_PROBE = """
import json, sys, time
from plugin_runtime import config, discovery, loader
runtime_config = config.RuntimeConfig.model_validate(json.loads(sys.argv[1]))
declarations, rejected = discovery.declare(runtime_config, plugins_dir=config.Path(runtime_config.plugins_dir))
assert not rejected, rejected
result = {}
for declaration in declarations:
    times = []
    for _ in range(1 + int(sys.argv[2])):
        started = time.perf_counter()
        digest = discovery.fingerprint(declaration, environ={})
        loaded = loader.load(declaration, environ={}, digest=digest)
        times.append((time.perf_counter() - started) * 1000)
        loaded.instance.shutdown()
    result[declaration.plugin_id] = {"source": declaration.source, "times": times}
print(json.dumps(result))
"""
# Also in a fresh interpreter: what importing an entry point's module costs alone (read with "cold").
_IMPORT_PROBE = """
import importlib, importlib.metadata, sys, time
from plugin_runtime import loader
(entry_point,) = importlib.metadata.entry_points(group=loader.ENTRY_POINT_GROUP, name=sys.argv[1])
started = time.perf_counter()
importlib.import_module(entry_point.module)
print((time.perf_counter() - started) * 1000)
"""


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


def _verdict(value: float, target: float) -> str:
    return "met" if value < target else "MISSED"


def health_latency() -> list[str]:
    with runtime_process.running_runtime(_RUNTIME_CONFIG, ready_path="/health") as url:
        loaded, rate = asyncio.run(_measure(url, clients=CLIENTS, requests=REQUESTS))
        alone, alone_rate = asyncio.run(_measure(url, clients=1, requests=500))
    p99 = _percentile(loaded, 0.99)
    return [
        f"runtime /health @{CLIENTS} clients: p50 {_percentile(loaded, 0.5):.2f} ms, p99 {p99:.2f} ms "
        f"over {len(loaded)} requests ({rate:.0f} req/s); "
        f"target p99 < {HEALTH_TARGET_MS:g} ms: {_verdict(p99, HEALTH_TARGET_MS)}",
        f"runtime /health @1 client: p50 {_percentile(alone, 0.5):.2f} ms, p99 {_percentile(alone, 0.99):.2f} ms "
        f"over {len(alone)} requests ({alone_rate:.0f} req/s)",
        f"  how: a plugin-runtime process (uvicorn with httptools) hosting localsql + hello-world on loopback; "
        f"an aiohttp client "
        f"with {CLIENTS} keep-alive connections in this process, each sending requests back to back; wall time per "
        f"request at the client. At {CLIENTS} clients latency ≈ {CLIENTS} / throughput (queueing), so the 1-client "
        f"figure is the per-request cost.",
    ]


def _probe(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, check=True, timeout=120, cwd=REPO
    )
    return done.stdout


def load_times() -> list[str]:
    lines = []
    for plugin_id, figures in json.loads(_probe(_LOAD_PROBE, json.dumps(_RUNTIME_CONFIG), str(WARM_LOADS))).items():
        cold, warm = figures["times"][0], statistics.median(figures["times"][1:])
        adapter = next(p.get("adapter") for p in _RUNTIME_CONFIG["plugins"] if p["id"] == plugin_id)
        imports = f" (importing its module alone: {float(_probe(_IMPORT_PROBE, adapter)):.1f} ms)" if adapter else ""
        lines.append(
            f"plugin load+init {plugin_id} ({figures['source']}): cold {cold:.1f} ms{imports}, "
            f"warm median {warm:.1f} ms; target < {LOAD_TARGET_MS:g} ms: {_verdict(max(cold, warm), LOAD_TARGET_MS)}"
        )
    lines.append(
        f"  how: discovery.fingerprint + loader.load (import, interface check, init) in a fresh interpreter with the "
        f"runtime already imported; cold = the first load, the plugin's own imports included; warm = median of "
        f"{WARM_LOADS} more loads, each a new instance; no network."
    )
    return lines


def run() -> list[str]:
    load = os.getloadavg()[0]  # other work on the machine shows up in every figure below
    context = f"runtime bench on {os.cpu_count()} cores, load average {load:.2f} at start"
    return [context, *health_latency(), *load_times()]


if __name__ == "__main__":
    print("\n".join(run()))
