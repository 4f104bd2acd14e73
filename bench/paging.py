"""Reading a large result page by page through the runtime, against one direct Prometheus query.

A real Prometheus (Debian's binary, `devservices.prometheus`) is backfilled with 100,000 samples (50
series × 2,000 points, one a minute), and a real `plugin-runtime` process hosts the Prometheus
adapter at its default page size (a plugin that answers whole results, as Prometheus does, pages at
10,000 rows: `paging.WHOLE_RESULT_PAGE_SIZE`) and, for comparison, at 1,000 rows. One read is: the
first page of "every sample of the metric over the whole range", then every `@odata.nextLink` until
there is none, each body parsed. The direct read is one `query_range` POST of the same PromQL and
range, its JSON parsed. Both read the same number of samples with the same values (checked), from
one keep-alive httpx client.

The figure is the median over ROUNDS alternating reads (runtime first, then direct first, ...).
Target: all pages ≤ 2 × direct at the default page size. The floor is the direct read plus
converting 100k samples to rows and one HTTP round trip per page; the runtime fetches the result
once (cursor paging, `plugin_runtime.reading`) and serves the later pages as slices of its text.
At 1,000 rows a page, the 99 further round trips (each a client request and a body parse, a
request through the runtime, and two wake-ups on a busy machine) are most of the difference.
Run with `python -m bench.paging`.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import httpx

from bench import runtime_process
from devservices.prometheus import running_prometheus

SERIES = 50
POINTS = 2_000
SAMPLES = SERIES * POINTS
START = 1_700_000_040
STEP = 60
END = START + STEP * (POINTS - 1)
ROUNDS = 9
RATIO_TARGET = 2.0
_QUERY = "gts.hypernetix.hyperspot.ax.query.v1~hyperspot.bench._.{name}.v1"
#: (plugin, query, page size): the default page size, the target's figure; and 1,000 rows a page (the
#: default of plugins that page natively), which shows how much the per-page round trip costs.
PLUGINS = (("paged", "paged_samples", None), ("paged-1k", "paged_samples_1k", 1_000))


def openmetrics(series: int = SERIES, points: int = POINTS) -> str:
    """`bench_paged` with `series` label sets, one sample a minute for `points` minutes."""
    lines = ["# TYPE bench_paged gauge"]
    for s in range(series):
        lines.extend(f'bench_paged{{shard="s{s:03d}"}} {(s * 7 + i) % 1000} {START + STEP * i}' for i in range(points))
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _iso(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def runtime_config(prometheus_url: str) -> dict[str, Any]:
    plugins = []
    for plugin_id, name, page_size in PLUGINS:
        query = {
            "id": _QUERY.format(name=name),
            "name": name,
            "category": "bench",
            "api_endpoint": f"/bench/{name}",
            "capabilities_id": "gts.hypernetix.hyperspot.ax.query_capabilities.v1~hyperspot.bench._.default.v1",
            "returns_schema_id": "gts.hypernetix.hyperspot.ax.schema.v1~hyperspot.bench._.samples.v1~",
        }
        settings: dict[str, Any] = {"base_url": prometheus_url, "timeout": "60s"}
        if page_size is not None:
            settings["page_size"] = page_size
        plugins.append(
            {"id": plugin_id, "version": "1.0.0", "adapter": "prometheus", "settings": settings, "queries": [query]}
        )
    return {"watch_interval_seconds": 60, "plugins": plugins}


def _ok(response: httpx.Response) -> Any:
    if response.status_code != 200:
        raise RuntimeError(f"{response.request.url} answered {response.status_code}: {response.text[:300]}")
    return response.json()


def read_pages(http: httpx.Client, runtime_url: str, name: str, end: int) -> tuple[float, list[float], int]:
    """Seconds to read every page of query `name`, the values in order, and how many pages there were."""
    window = f"timestamp ge {_iso(START)} and timestamp le {_iso(end)}"
    params = {"$filter": f"metric eq 'bench_paged' and {window}", "step": f"{STEP}s"}
    started = time.perf_counter()
    body = _ok(http.get(f"{runtime_url}/queries/{_QUERY.format(name=name)}", params=params))
    values, pages = [row["value"] for row in body["value"]], 1
    while "@odata.nextLink" in body:
        body = _ok(http.get(body["@odata.nextLink"]))
        values += [row["value"] for row in body["value"]]
        pages += 1
    return time.perf_counter() - started, values, pages


def read_direct(http: httpx.Client, prometheus_url: str, end: int) -> tuple[float, list[float]]:
    form = {"query": "bench_paged", "start": str(START), "end": str(end), "step": str(STEP)}
    started = time.perf_counter()
    data = _ok(http.post(f"{prometheus_url}/api/v1/query_range", data=form))["data"]
    elapsed = time.perf_counter() - started
    return elapsed, [float(v) for series in data["result"] for _, v in series["values"]]


def run(*, series: int = SERIES, points: int = POINTS, rounds: int = ROUNDS) -> list[str]:
    samples, end = series * points, START + STEP * (points - 1)
    lines = []
    with (
        running_prometheus(openmetrics(series, points)) as prometheus_url,
        runtime_process.running_runtime(runtime_config(prometheus_url)) as runtime_url,
        httpx.Client(timeout=120) as http,
    ):
        for _, name, page_size in PLUGINS:
            paged_s: list[float] = []
            direct_s: list[float] = []
            pages = 0
            for n in range(rounds + 1):  # the first round warms both paths and is not counted
                for which in (0, 1) if n % 2 else (1, 0):
                    if which == 0:
                        seconds, paged_values, pages = read_pages(http, runtime_url, name, end)
                        paged_s.append(seconds)
                    else:
                        seconds, direct_values = read_direct(http, prometheus_url, end)
                        direct_s.append(seconds)
                if sorted(paged_values) != sorted(direct_values) or len(direct_values) != samples:
                    raise RuntimeError(f"the pages held {len(paged_values)} samples, Prometheus {len(direct_values)}")
            paged, direct = statistics.median(paged_s[1:]), statistics.median(direct_s[1:])
            size = "default page size" if page_size is None else f"page size {page_size}"
            lines.append(
                f"paging {samples // 1000}k samples{'' if page_size is None else f' (page size {page_size})'}: "
                f"all pages {paged:.2f} s vs direct {direct:.2f} s "
                f"(ratio {paged / direct:.2f}, {pages} pages of the {size}, median of {rounds}); "
                f"target ratio ≤ {RATIO_TARGET:g}"
            )
    return lines


if __name__ == "__main__":
    print("\n".join(run()))
