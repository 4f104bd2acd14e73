"""What the plugin runtime adds to a Prometheus query: fixed cost, CPU per row, and large answers.

A real Prometheus (Debian's, `devservices.prometheus`) is backfilled with two metrics:
`bench_rows`, 10 series × 1,000 samples, and `bench_series`, 1,000 series × 10 samples. A real
`plugin-runtime` process (`bench.runtime_process`) hosts the Prometheus adapter over it (page size
10,000, so each answer is one page), and the reference pass-through (`bench.passthrough`, plain
asyncio relaying bytes) runs as a process of its own. For each request the runtime is asked once
for its translation (`/translate`); the direct and pass-through paths then POST exactly that
PromQL and those parameters, as the adapter does. Before timing, each request's answer via the
runtime is checked against Prometheus' own: the same samples, value for value.

One keep-alive httpx client sends one request at a time, with its default headers (it asks for
gzip, as Grafana and browsers do: Prometheus compresses for the direct and pass-through paths; the
runtime asks Prometheus for none and never compresses its answers). A request's time runs until the
last byte of the body has arrived (nothing is parsed while timing). Paths are interleaved within
each round, in an order that rotates, so a slow moment of this shared machine weighs on all alike.

    fixed cost    100 rows (10 series × 10 samples): p50 of each path. Target: runtime ≤ pass-through + 1 ms.
    per-row CPU   the runtime process's CPU time (user + system, all threads, so the kernel's work on
                  its sockets counts; read from the process's CPU-time clock in nanoseconds) across
                  a batch of 200 identical requests, divided by requests and by rows (10,000 rows:
                  10 series × 1,000 samples) or by series (1,000 series × 10 samples).
                  Targets: ≤ 1.5 µs/row, ≤ 5 µs/series.
    large answers 10,000 rows: median over rounds of runtime / direct. Target ≤ 1.5.
    floor         no target: the pass-through's own CPU per row and per series (what relaying the
                  bytes costs a Python process), and the 10k-row answer against a direct call that
                  asks for no gzip, the cheapest Prometheus can answer.

Run with `python -m bench.adapter_overhead`.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable
from typing import Any

import httpx

from bench import passthrough, runtime_process
from devservices.prometheus import running_prometheus

FIXED_TARGET_MS = 1.0
ROW_TARGET_US = 1.5
SERIES_TARGET_US = 5.0
RATIO_TARGET = 1.5

START = 1_700_000_040
STEP = 60
ROW_SERIES, ROW_POINTS = 10, 1000
MANY_SERIES, FEW_POINTS = 1000, 10
FIXED_POINTS = 10

_QUERY = "gts.hypernetix.hyperspot.ax.query.v1~hyperspot.bench._.samples.v1"


def _iso(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _window(metric: str, points: int) -> str:
    return f"metric eq '{metric}' and timestamp ge {_iso(START)} and timestamp le {_iso(START + STEP * (points - 1))}"


#: name → ($filter, rows it answers): each a range query at the data's own step.
REQUESTS: dict[str, tuple[str, int]] = {
    "fixed": (_window("bench_rows", FIXED_POINTS), ROW_SERIES * FIXED_POINTS),
    "rows": (_window("bench_rows", ROW_POINTS), ROW_SERIES * ROW_POINTS),
    "series": (_window("bench_series", FEW_POINTS), MANY_SERIES * FEW_POINTS),
}


def openmetrics() -> str:
    """The data set as OpenMetrics text with explicit timestamps (promtool backfills it)."""
    lines = ["# TYPE bench_rows gauge"]
    for s in range(ROW_SERIES):
        lines.extend(
            f'bench_rows{{instance="10.0.0.{s}:9100",job="api"}} {(p * (s + 3)) % 101 / 4:g} {START + STEP * p}'
            for p in range(ROW_POINTS)
        )
    lines.append("# TYPE bench_series gauge")
    for s in range(MANY_SERIES):
        lines.extend(
            f'bench_series{{instance="10.1.{s // 250}.{s % 250}:9100",job="worker"}} {(s + 7 * p) % 89:g} '
            f"{START + STEP * p}"
            for p in range(FEW_POINTS)
        )
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _config(prometheus_url: str) -> dict[str, Any]:
    query = {
        "id": _QUERY,
        "name": "samples",
        "category": "bench",
        "api_endpoint": "/bench/samples",
        "capabilities_id": "gts.hypernetix.hyperspot.ax.query_capabilities.v1~hyperspot.bench._.default.v1",
        "returns_schema_id": "gts.hypernetix.hyperspot.ax.schema.v1~hyperspot.bench._.samples.v1~",
        "options": {"step": f"{STEP}s"},
    }
    plugin = {
        "id": "prometheus-bench",
        "version": "1.0.0",
        "adapter": "prometheus",
        "settings": {"base_url": prometheus_url, "timeout": "30s", "page_size": 10_000},
        "queries": [query],
    }
    return {"plugins": [plugin], "watch_interval_seconds": None}


@dataclasses.dataclass(frozen=True)
class Request:
    """One request three ways: the runtime's OData request, and the PromQL call it stands for."""

    runtime: tuple[str, dict[str, str]]
    path: str
    form: dict[str, str]


#: The runtime asks Prometheus for no gzip; a client's direct call asks for it (httpx, browsers and
#: Grafana do), and Prometheus then compresses. The ratio is against that direct call, as a client
#: sees it; the floor line also gives it against an uncompressed direct call (`direct identity`).
_IDENTITY = {"Accept-Encoding": "identity"}


def _ok(response: httpx.Response) -> httpx.Response:
    if response.status_code != 200:
        request = response.request
        raise RuntimeError(f"{request.method} {request.url} answered {response.status_code}: {response.text[:300]}")
    return response


def _request(http: httpx.Client, runtime_url: str, filter_text: str) -> Request:
    params = {"$filter": filter_text}
    translation = _ok(http.get(f"{runtime_url}/queries/{_QUERY}/translate", params=params)).json()
    endpoint = httpx.URL(translation["endpoint"])
    form = {"query": translation["query"], **dict(endpoint.params)}
    return Request((f"{runtime_url}/queries/{_QUERY}", params), endpoint.path, form)


def same_samples(name: str, via_runtime: Any, direct: Any, rows: int) -> None:
    """The runtime's rows are Prometheus' samples, value for value (and all of them on one page)."""
    samples = sorted((value, at) for series in direct["data"]["result"] for at, value in series["values"])
    answered = sorted((row["value"], row["timestamp"]) for row in via_runtime["value"])
    expected = [(float(value), _stamp(at)) for value, at in samples]
    if "@odata.nextLink" in via_runtime or len(answered) != rows or sorted(expected) != answered:
        raise RuntimeError(
            f"{name}: the runtime answered {len(answered)} rows, Prometheus {len(samples)} samples "
            f"(expected {rows}), or their values differ"
        )


def _stamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{round(seconds * 1000) % 1000:03d}Z"


#: The kernel's CPU-clock kind that counts a process's scheduled run time (include/linux/posix-timers.h).
_CPUCLOCK_SCHED = 2


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, all its threads, to the nanosecond.

    This is the process's CPU-time clock (`clock_gettime` on the clock id `clock_getcpuclockid(pid)`
    stands for: `~pid << 3 | CPUCLOCK_SCHED`), the kernel's own sum of the time every thread of the
    process ran, those that have exited included — the quantity utime + stime of /proc/<pid>/stat
    are scaled from, without their 10 ms clock ticks (which made a batch of 40 requests move the
    per-series figure in steps of 0.25 µs).
    """
    return time.clock_gettime_ns((~pid << 3) | _CPUCLOCK_SCHED) / 1e9


def _timed(call: Callable[[], httpx.Response]) -> float:
    started = time.perf_counter()
    _ok(call())  # httpx has read the whole body when the call returns: time to last byte
    return (time.perf_counter() - started) * 1000


PATHS = ("runtime", "passthrough", "direct")
LARGE_PATHS = ("runtime", "direct", "direct identity")


@dataclasses.dataclass(frozen=True)
class Figures:
    """Milliseconds per path (in the order they were taken, rounds aligned), CPU µs per row or series."""

    fixed_ms: dict[str, list[float]]
    cpu_us: dict[str, float]
    large_ms: dict[str, list[float]]

    def ratio(self, direct: str) -> float:
        """Median over rounds of runtime / `direct` for the 10k-row answer."""
        return statistics.median(r / d for r, d in zip(self.large_ms["runtime"], self.large_ms[direct], strict=True))

    def lines(self) -> list[str]:
        runtime, passthrough_ms, direct = (statistics.median(self.fixed_ms[path]) for path in PATHS)
        row, series = self.cpu_us["row"], self.cpu_us["series"]
        ratio = self.ratio("direct")
        large = {path: statistics.median(times) for path, times in self.large_ms.items()}
        return [
            (
                f"adapter fixed cost: runtime p50 {runtime:.2f} ms, passthrough p50 {passthrough_ms:.2f} ms, "
                f"direct p50 {direct:.2f} ms (100 rows); target runtime ≤ passthrough + {FIXED_TARGET_MS:g} ms: "
                f"{_verdict(runtime <= passthrough_ms + FIXED_TARGET_MS)}"
            ),
            (
                f"adapter per-row cpu: {row:.2f} µs/row (10k rows), {series:.2f} µs/series (1k series × 10 points); "
                f"targets ≤ {ROW_TARGET_US:g} µs/row: {_verdict(row <= ROW_TARGET_US)}, "
                f"≤ {SERIES_TARGET_US:g} µs/series: {_verdict(series <= SERIES_TARGET_US)}"
            ),
            (
                f"adapter ratio 10k rows: median {ratio:.2f} (time to last byte, runtime / direct, "
                f"N={len(self.large_ms['runtime'])}); target ≤ {RATIO_TARGET:g}: {_verdict(ratio <= RATIO_TARGET)}"
            ),
            (
                f"adapter floor: passthrough cpu {self.cpu_us['passthrough row']:.2f} µs/row (10k rows), "
                f"{self.cpu_us['passthrough series']:.2f} µs/series; 10k rows p50 runtime {large['runtime']:.2f} ms, "
                f"direct {large['direct']:.2f} ms (gzip), direct identity {large['direct identity']:.2f} ms "
                f"(ratio {self.ratio('direct identity'):.2f})"
            ),
        ]


def _verdict(met: bool) -> str:
    return "PASS" if met else "MISS"


def measure(*, rounds: int, cpu_requests: int, warmup: int) -> Figures:
    with (
        running_prometheus(openmetrics()) as prometheus_url,
        runtime_process.started_runtime(_config(prometheus_url)) as (runtime_url, pid),
        passthrough.running_passthrough(prometheus_url) as (passthrough_url, passthrough_pid),
        httpx.Client(timeout=60.0) as http,
    ):
        requests = {name: _request(http, runtime_url, filter_text) for name, (filter_text, _) in REQUESTS.items()}

        def call(path: str, request: Request) -> Callable[[], httpx.Response]:
            if path == "runtime":
                url, params = request.runtime
                return lambda: http.get(url, params=params)
            base = passthrough_url if path == "passthrough" else prometheus_url
            headers = _IDENTITY if path == "direct identity" else None
            return lambda: http.post(base + request.path, data=request.form, headers=headers)

        for name, request in requests.items():
            rows = REQUESTS[name][1]
            same_samples(name, _ok(call("runtime", request)()).json(), _ok(call("direct", request)()).json(), rows)
            for _ in range(warmup):
                for path in PATHS:
                    _timed(call(path, request))

        fixed: dict[str, list[float]] = {path: [] for path in PATHS}
        for round_number in range(rounds):
            for shift in range(len(PATHS)):
                path = PATHS[(round_number + shift) % len(PATHS)]
                fixed[path].append(_timed(call(path, requests["fixed"])))

        def cpu_per_request(path: str, process: int, request: Request) -> float:
            send = call(path, request)
            before = cpu_seconds(process)
            for _ in range(cpu_requests):
                _ok(send())
            return (cpu_seconds(process) - before) / cpu_requests * 1e6

        rows = REQUESTS["rows"][1]
        cpu_us = {
            "row": cpu_per_request("runtime", pid, requests["rows"]) / rows,
            "series": cpu_per_request("runtime", pid, requests["series"]) / MANY_SERIES,
            "passthrough row": cpu_per_request("passthrough", passthrough_pid, requests["rows"]) / rows,
            "passthrough series": cpu_per_request("passthrough", passthrough_pid, requests["series"]) / MANY_SERIES,
        }

        large: dict[str, list[float]] = {path: [] for path in LARGE_PATHS}
        for round_number in range(rounds):
            for shift in range(len(LARGE_PATHS)):
                path = LARGE_PATHS[(round_number + shift) % len(LARGE_PATHS)]
                large[path].append(_timed(call(path, requests["rows"])))
    return Figures(fixed, cpu_us, large)


def run(*, rounds: int = 60, cpu_requests: int = 200, warmup: int = 5) -> list[str]:
    figures = measure(rounds=rounds, cpu_requests=cpu_requests, warmup=warmup)
    return [
        *figures.lines(),
        (
            f"  how: real Prometheus + plugin-runtime process (Prometheus adapter) + asyncio pass-through process; "
            f"one keep-alive httpx client, time to last byte; fixed cost and ratio over {rounds} interleaved rounds; "
            f"per-row cpu = runtime process CPU time (user+system, ns clock) over {cpu_requests} identical requests, "
            "per request, per row or series."
        ),
    ]


if __name__ == "__main__":
    print("\n".join(run()))
