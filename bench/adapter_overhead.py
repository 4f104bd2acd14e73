"""What the plugin runtime adds to a Prometheus query: the same queries via the runtime and direct.

A real Prometheus on loopback is loaded with a deterministic data set (a few metrics × labels, six
hours at one sample a minute), and a real `plugin-runtime` process hosting the Prometheus adapter
is started by the operator's own local driver. For each dashboard-like OData request the runtime is
asked once for its translation (`GET /queries/{id}/translate`: PromQL and API call); the direct
path then posts exactly that PromQL and those parameters to Prometheus, as the adapter does.

After a warm-up, every round sends each request both ways, back to back, alternating which goes
first, from one keep-alive httpx client; a request's time runs until its JSON body is parsed. The
figure is the median of the per-pair ratios (via runtime / direct), so a slow moment of the machine
weighs on both sides of a pair. Both paths must return the same number of samples, or the run
stops. Target: median ratio ≤ 1.15. Run with `python -m bench.adapter_overhead`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.translation import _percentiles
from devservices.prometheus import running_prometheus
from plugin_operator import render
from plugin_operator.drivers.base import Instance
from plugin_operator.drivers.local import LocalDriver
from plugin_operator.models import PluginSpec
from plugin_operator.runtime_client import RuntimeClient
from plugin_runtime import config as runtime_config
from plugin_runtime import interface

RATIO_TARGET = 1.15
ROUNDS = 40
WARMUP_ROUNDS = 3
BUDGET_SECONDS = 90.0

#: The data set: samples every minute for six hours, ending at END.
START = 1_700_000_040
STEP = 60
POINTS = 361
END = START + STEP * (POINTS - 1)

_JOBS = ("api", "web", "worker")
_CODES = ("200", "500")
_INSTANCES = ("10.0.0.1:9100", "10.0.0.2:9100", "10.0.0.3:9100")
_MODES = ("idle", "user", "system", "iowait")
_QUEUES = ("orders", "billing", "emails", "exports")

_QUERY_TYPE = "gts.hypernetix.hyperspot.ax.query.v1~hyperspot.bench._.{name}.v1"
#: Query definitions of the hosted plugin: raw samples, and two aggregated rates.
_QUERIES: dict[str, dict[str, Any]] = {
    "samples": {},
    "requests": {"metric": "http_requests_total", "rate": "5m", "aggregate": "sum", "by": ["job"]},
    "cpu": {"metric": "node_cpu_seconds_total", "rate": "5m", "aggregate": "avg", "by": ["instance"]},
}


def _iso(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


_LAST_HOUR = f"timestamp ge {_iso(END - 3600)} and timestamp le {_iso(END)}"
_LAST_6H = f"timestamp ge {_iso(START)} and timestamp le {_iso(END)}"

#: (query definition, $filter, step): dashboard panels over the data set, each under 1,000 rows so
#: the runtime answers in one page, as the direct call does.
REQUESTS: tuple[tuple[str, str, str], ...] = (
    ("samples", f"metric eq 'queue_depth' and queue eq 'orders' and {_LAST_HOUR}", "60s"),
    ("samples", f"metric eq 'queue_depth' and value gt 40 and {_LAST_6H}", "5m"),
    ("samples", f"metric eq 'http_requests_total' and job eq 'api' and {_LAST_HOUR}", "5m"),
    ("samples", f"metric eq 'node_cpu_seconds_total' and mode in ('user','system') and {_LAST_HOUR}", "60s"),
    ("samples", f"metric eq 'http_requests_total' and code eq '500' and timestamp eq {_iso(END)}", "60s"),
    ("samples", f"startswith(instance,'10.0.0.') and mode eq 'idle' and {_LAST_6H}", "5m"),
    ("requests", f"code eq '500' and {_LAST_6H}", "5m"),
    ("cpu", f"mode ne 'idle' and {_LAST_HOUR}", "60s"),
)


def openmetrics() -> str:
    """The data set as OpenMetrics text with explicit timestamps (promtool backfills it)."""
    families: list[tuple[str, str, list[tuple[str, Callable[[int], float]]]]] = [
        (
            "http_requests",
            "counter",
            [
                (f'http_requests_total{{job="{job}",code="{code}",instance="{instance}"}}', _counter(j, c, k))
                for j, job in enumerate(_JOBS)
                for c, code in enumerate(_CODES)
                for k, instance in enumerate(_INSTANCES)
            ],
        ),
        (
            "node_cpu_seconds",
            "counter",
            [
                (f'node_cpu_seconds_total{{instance="{instance}",mode="{mode}"}}', _counter(k, m, 0))
                for k, instance in enumerate(_INSTANCES)
                for m, mode in enumerate(_MODES)
            ],
        ),
        (
            "queue_depth",
            "gauge",
            [(f'queue_depth{{queue="{queue}"}}', _gauge(q)) for q, queue in enumerate(_QUEUES)],
        ),
    ]
    lines: list[str] = []
    for family, kind, series in families:
        lines.append(f"# TYPE {family} {kind}")
        for selector, value in series:
            lines.extend(f"{selector} {value(i):g} {START + STEP * i}" for i in range(POINTS))
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _counter(a: int, b: int, c: int) -> Callable[[int], float]:
    return lambda i: float(i * (3 + a + 2 * b + c) + (i * i) % 7)


def _gauge(q: int) -> Callable[[int], float]:
    return lambda i: float((i * (q + 5)) % 97)


def _definition(name: str, options: dict[str, Any]) -> runtime_config.QueryConfig:
    return runtime_config.QueryConfig(
        id=_QUERY_TYPE.format(name=name),
        name=name,
        category="bench",
        api_endpoint=f"/bench/{name}",
        capabilities_id="gts.hypernetix.hyperspot.ax.query_capabilities.v1~hyperspot.bench._.default.v1",
        returns_schema_id="gts.hypernetix.hyperspot.ax.schema.v1~hyperspot.bench._.samples.v1~",
        options=options,
    )


def _instance(prometheus_url: str) -> Instance:
    plugin = runtime_config.RuntimePlugin(
        id="prometheus-bench",
        version="1.0.0",
        adapter="prometheus",
        contract_format=interface.ContractFormat.PROMETHEUS,
        settings={"base_url": prometheus_url, "timeout": "10s"},
        queries=[_definition(name, options) for name, options in _QUERIES.items()],
    )
    spec = PluginSpec.model_validate(
        {"version": plugin.version, "contractFormat": "prometheus", "adapter": "prometheus"}
    )
    inputs = render.RenderInputs(
        plugin_id=plugin.id,
        cr_name="prometheus",
        namespace="bench",
        uid="bench",
        spec=spec,
        version=plugin.version,
        image="bench",
        runtime_config=runtime_config.RuntimeConfig(plugins=[plugin]),
        replicas=1,
        identity="0" * 16,
    )
    return Instance(key="bench.prometheus", plugin_id=plugin.id, identity="0" * 16, inputs=inputs)


@contextmanager
def _runtime(prometheus_url: str) -> Iterator[str]:
    """A plugin-runtime hosting the Prometheus adapter, started and stopped by the local driver.

    One event loop serves both, so the loop that spawned the process is still there when it exits.
    """
    instance = _instance(prometheus_url)
    with tempfile.TemporaryDirectory(prefix="bench-runtime-") as state, asyncio.Runner() as loop:
        client = RuntimeClient()
        driver = LocalDriver(state_dir=Path(state), client=client)
        try:
            handle = loop.run(driver.start(instance))
            try:
                yield handle.endpoint
            finally:
                loop.run(driver.stop(instance.key, handle.instance_id))
        finally:
            loop.run(client.aclose())


@dataclasses.dataclass(frozen=True)
class Pair:
    """One request both ways: the runtime's URL and parameters, and the PromQL call it stands for."""

    runtime_url: str
    runtime_params: dict[str, str]
    direct_url: str
    direct_form: dict[str, str]


def _json(response: httpx.Response) -> Any:
    if response.status_code != 200:
        request = response.request
        raise RuntimeError(f"{request.method} {request.url} answered {response.status_code}: {response.text[:300]}")
    return response.json()


def _pair(http: httpx.Client, runtime_url: str, prometheus_url: str, query: str, filter_text: str, step: str) -> Pair:
    query_id = _QUERY_TYPE.format(name=query)
    params = {"$filter": filter_text, "step": step}
    translation = _json(http.get(f"{runtime_url}/queries/{query_id}/translate", params=params))
    if translation["endpoint"] is None:
        raise RuntimeError(f"{filter_text!r} selects no time at all: the adapter would not call Prometheus")
    endpoint = httpx.URL(translation["endpoint"])
    return Pair(
        runtime_url=f"{runtime_url}/queries/{query_id}",
        runtime_params=params,
        direct_url=f"{prometheus_url}{endpoint.path}",
        direct_form={"query": translation["query"], **dict(endpoint.params)},
    )


def _same_samples(pair: Pair, via_runtime: Any, direct: Any) -> int:
    """The rows both paths answered (the same number, on one page, or the run stops)."""
    data = direct["data"]
    samples = len(data["result"]) if data["resultType"] == "vector" else sum(len(s["values"]) for s in data["result"])
    rows = len(via_runtime["value"])
    if samples != rows or "@odata.nextLink" in via_runtime or rows == 0:
        raise RuntimeError(
            f"{pair.direct_form['query']}: the runtime answered {rows} rows, Prometheus {samples} samples"
        )
    return rows


@dataclasses.dataclass(frozen=True)
class Overhead:
    """The measured pairs: `runtime_ms[i]` and `direct_ms[i]` are one request both ways, `rows[i]` its size."""

    runtime_ms: tuple[float, ...]
    direct_ms: tuple[float, ...]
    rows: tuple[int, ...]

    @property
    def median_ratio(self) -> float:
        return statistics.median(r / d for r, d in zip(self.runtime_ms, self.direct_ms, strict=True))

    def added_ms_by_rows(self) -> dict[int, float]:
        """Median time the runtime adds to a request, per answer size: where the overhead comes from."""
        added: dict[int, list[float]] = {}
        for runtime_ms, direct_ms, rows in zip(self.runtime_ms, self.direct_ms, self.rows, strict=True):
            added.setdefault(rows, []).append(runtime_ms - direct_ms)
        return {rows: statistics.median(values) for rows, values in sorted(added.items())}


def _timed(call: Callable[[], httpx.Response]) -> tuple[float, Any]:
    started = time.perf_counter()
    body = _json(call())
    return (time.perf_counter() - started) * 1000, body


def measure(
    *, rounds: int = ROUNDS, warmup_rounds: int = WARMUP_ROUNDS, budget_seconds: float = BUDGET_SECONDS
) -> Overhead:
    """Start Prometheus and a runtime, then time every request both ways, interleaved."""
    with (
        running_prometheus(openmetrics()) as prometheus_url,
        _runtime(prometheus_url) as runtime_url,
        httpx.Client(timeout=30.0) as http,
    ):
        pairs = [_pair(http, runtime_url, prometheus_url, *request) for request in REQUESTS]

        def via_runtime(pair: Pair) -> tuple[float, Any]:
            return _timed(lambda: http.get(pair.runtime_url, params=pair.runtime_params))

        def direct(pair: Pair) -> tuple[float, Any]:
            return _timed(lambda: http.post(pair.direct_url, data=pair.direct_form))

        sizes = [_same_samples(pair, via_runtime(pair)[1], direct(pair)[1]) for pair in pairs]
        for _ in range(warmup_rounds):
            for pair in pairs:
                via_runtime(pair), direct(pair)
        timings: list[tuple[float, float, int]] = []
        deadline = time.monotonic() + budget_seconds
        for round_number in range(rounds):
            if time.monotonic() > deadline:
                break
            for index, (pair, rows) in enumerate(zip(pairs, sizes, strict=True)):
                if (round_number + index) % 2:
                    runtime_ms, direct_ms = via_runtime(pair)[0], direct(pair)[0]
                else:
                    direct_ms, runtime_ms = direct(pair)[0], via_runtime(pair)[0]
                timings.append((runtime_ms, direct_ms, rows))
    runtimes, directs, rows_per_pair = zip(*timings, strict=True)
    return Overhead(runtimes, directs, rows_per_pair)


def run(*, rounds: int = ROUNDS, warmup_rounds: int = WARMUP_ROUNDS) -> list[str]:
    overhead = measure(rounds=rounds, warmup_rounds=warmup_rounds)
    runtime_p50, runtime_p99 = _percentiles(overhead.runtime_ms)
    direct_p50, direct_p99 = _percentiles(overhead.direct_ms)
    ratio = overhead.median_ratio
    verdict = "met" if ratio <= RATIO_TARGET else "MISSED"
    by_size = ", ".join(f"{rows} rows {added:+.2f}" for rows, added in overhead.added_ms_by_rows().items())
    return [
        (
            f"adapter overhead: median ratio {ratio:.2f} (runtime p50 {runtime_p50:.2f} ms vs direct p50 "
            f"{direct_p50:.2f} ms, N={len(overhead.runtime_ms)}); target ≤ {RATIO_TARGET:g}: {verdict}"
        ),
        (
            f"adapter overhead latency: via runtime p50 {runtime_p50:.2f} ms, p99 {runtime_p99:.2f} ms; "
            f"direct p50 {direct_p50:.2f} ms, p99 {direct_p99:.2f} ms"
        ),
        f"adapter overhead by answer size (median ms added): {by_size}",
        (
            f"  how: {len(REQUESTS)} OData requests (range and instant, raw samples and rates) to a plugin-runtime "
            f"started by the local driver, and their PromQL from /translate posted to the same Prometheus; "
            f"{warmup_rounds} warm-up rounds, then each request both ways per round, order alternating, one "
            f"keep-alive httpx client on loopback; ratio = median over pairs of runtime/direct."
        ),
    ]


if __name__ == "__main__":
    print("\n".join(run()))
