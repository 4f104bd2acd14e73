"""Result cache: what a cache hit costs against a miss, through a real `plugin-runtime` process.

The runtime hosts the built-in REST adapter with `cache: {ttl: 10m}` over a local JSON API (a
threaded HTTP server in this process, 200 rows per answer, no artificial delay: a backend on
loopback is the cheapest a miss can be). One client sends the requests one at a time: `misses`
requests each with another custom option (`page=<n>`, so each is a new cache key: the adapter
queries the API) interleaved with `hits` requests repeating one already answered. Latency is wall time per
request as the client sees it (connection kept alive). A real backend takes longer than this one,
so real misses cost more and the gap only widens.

Run with `python -m bench.cache`.
"""

from __future__ import annotations

import json
import statistics
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx

from bench import runtime_process
from devservices.http import serving

QUERY = "gts.hypernetix.hyperspot.ax.query.v1~hyperspot.bench._.cached_rows.v1"
ROWS = json.dumps({"items": [{"id": n, "name": f"row {n}", "value": n * 1.5} for n in range(200)]}).encode()


class _Api(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(ROWS)))
        self.end_headers()
        self.wfile.write(ROWS)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _config(api_url: str) -> dict[str, Any]:
    query = {
        "id": QUERY,
        "name": "Cached rows",
        "category": "bench",
        "api_endpoint": "/bench/cached-rows",
        "capabilities_id": "gts.hypernetix.hyperspot.ax.query_capabilities.v1~hyperspot.bench._.default.v1",
        "returns_schema_id": "gts.hypernetix.hyperspot.ax.schema.v1~hyperspot.bench._.row.v1~",
        "options": {"url": "{base_url}/rows?page={option.page}", "rows": "$.items[*]"},
    }
    plugin = {
        "id": "cached-rest",
        "version": "1.0.0",
        "adapter": "rest",
        "settings": {"base_url": api_url, "retry_count": 0},
        "cache": {"ttl_seconds": 600, "max_entries": 100_000, "max_bytes": 1 << 30},
        "queries": [query],
    }
    return {"plugins": [plugin], "watch_interval_seconds": None}


def _timed(client: httpx.Client, url: str, page: int) -> float:
    started = time.perf_counter()
    response = client.get(url, params={"page": str(page), "$top": "200"})
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"query answered {response.status_code}: {response.text[:300]}")
    return elapsed


def _percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


def run(*, misses: int = 300, hits: int = 300) -> list[str]:
    with serving(_Api) as api_url, runtime_process.running_runtime(_config(api_url)) as url:
        target = f"{url}/queries/{QUERY}"
        with httpx.Client(timeout=30) as client:
            for page in range(-20, 0):  # warm up connections, imports and the adapter's caches
                _timed(client, target, page)
            # Interleaved (miss, hit, miss, hit…) so a change of machine load weighs on both alike.
            miss: list[float] = []
            hit: list[float] = []
            for n in range(max(misses, hits)):
                if n < misses:
                    miss.append(_timed(client, target, n + 1))
                if n < hits:
                    hit.append(_timed(client, target, 1 + n % misses))
            document = client.get(f"{url}/plugins/cached-rest/health").json()["cache"]
    if document["misses"] != misses + 20 or document["hits"] != hits:
        raise RuntimeError(f"the cache did not behave as measured: {document}")
    return [
        f"cache: hit p50 {statistics.median(hit):.2f} ms vs miss p50 {statistics.median(miss):.2f} ms "
        f"(p99 {_percentile(hit, 99):.2f} ms vs {_percentile(miss, 99):.2f} ms; {hits} hits, {misses} misses, "
        "200 rows per answer)"
    ]


if __name__ == "__main__":
    for line in run():
        print(line)
