"""Cross-plugin isolation under load: one failing plugin beside three good ones in one runtime.

One real `plugin-runtime` process on loopback hosts three local datasource plugins (`good-1..3`,
localsql) and the `flaky` test plugin (tests/runtime/plugins/flaky), whose queries raise (500),
fail their backend (502) or hang past its 0.5 s time limit (504; the hung thread keeps its slot),
so its sandbox answers 503 once its 4 slots are taken or its breaker is open. Two phases:

1. baseline: 50 client tasks (aiohttp, one keep-alive connection each) send 2,000 requests to the
   good plugins (round robin), back to back;
2. with failures: the same, plus 10 more clients sending up to 500 requests to the failing plugin,
   paced to spread over as long as the baseline took.

In both phases one health monitor per plugin probes `/plugins/{id}/health` every 50 ms and records
each probe in PostgreSQL through the operator's `mirror.record_probe` (in threads, as the operator's
health monitor does), and records it a second time, as a retried reconcile would.

Figures: per plugin and phase the requests, success rate and p50/p99 of the wall time per request
at the client (with 50 requests always outstanding, latency is mostly queueing: ≈ 50 / throughput);
the ratio of the good plugins' p99 with the failing plugin's traffic to their p99 without it (1.0:
unaffected; the failing plugin's requests are extra work for the same two cores the client and the
runtime share, so a ratio a little above 1 is CPU, not interference); health rows expected (probes
made) vs written (rows counted). The phases alternate in 4 rounds of 500 + up to 125 requests, so
background load on the machine hits both alike; each phase stops after 60 s at the latest.

Needs PostgreSQL (PLUGIN_OPERATOR_TEST_DATABASE_URL, default postgres@127.0.0.1:5432/test; a
temporary schema is created and dropped). Run with `python -m bench.load`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import datetime
import itertools
import statistics
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa

from bench import runtime_process
from devservices import postgres
from plugin_operator import db, mirror
from plugin_operator.db import tables
from plugin_operator.runtime_client import RuntimeClient

REPO = Path(__file__).resolve().parents[1]
TEST_PLUGINS = REPO / "tests" / "runtime" / "plugins"
GOOD = ("good-1", "good-2", "good-3")
FAILING = "flaky"
CLIENTS = 50
GOOD_REQUESTS = 2_000
FAILING_CLIENTS = 10
FAILING_REQUESTS = 500
PROBE_INTERVAL = 0.05
DEADLINE_SECONDS = 60.0
ROUNDS = 4

_QUERY = "gts.hypernetix.hyperspot.ax.query.v1~hyperspot.{}._.{}.v1"
#: The failing plugin's queries (tests/runtime/plugins/flaky): raises, backend error, hangs.
FAILING_QUERIES = tuple(_QUERY.format("tests", name) for name in ("boom", "backend_down", "hang"))


def good_query(plugin_id: str) -> str:
    return _QUERY.format("load", plugin_id.replace("-", "_"))


def runtime_config() -> dict[str, Any]:
    """The RuntimeConfig of the runtime under load: three localsql plugins and the flaky one."""
    good = [
        {
            "id": plugin_id,
            "version": "1.0.0",
            "adapter": "localsql",
            "settings": {"table": "server_metrics"},
            "queries": [
                {
                    "id": good_query(plugin_id),
                    "name": plugin_id,
                    "category": "load",
                    "api_endpoint": f"/load/{plugin_id}",
                    "capabilities_id": "gts.hypernetix.hyperspot.ax.query_capabilities.v1~hyperspot.load._.default.v1",
                    "returns_schema_id": "gts.hypernetix.hyperspot.ax.schema.v1~hyperspot.load._.server_metrics.v1~",
                }
            ],
        }
        for plugin_id in GOOD
    ]
    failing = {
        "id": FAILING,
        "version": "1.0.0",
        "path": "flaky",
        "timeout_seconds": 0.5,
        "max_concurrent_queries": 4,
        "breaker": {"failure_threshold": 5, "cooldown_seconds": 1.0},
    }
    return {
        "plugins_dir": str(TEST_PLUGINS),
        "watch_interval_seconds": 60,
        "drain_seconds": 0.5,
        "plugins": [*good, failing],
    }


#: Kept under this name: tests/resilience and the benchmark tests start the load runtime through it.
running_runtime = runtime_process.running_runtime


# Figures -----------------------------------------------------------------------------------------


@dataclasses.dataclass
class PluginFigures:
    """What one plugin's clients saw in one phase: latencies (ms) of every request and the statuses."""

    latencies_ms: list[float] = dataclasses.field(default_factory=list)
    statuses: collections.Counter[int] = dataclasses.field(default_factory=collections.Counter)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def success_rate(self) -> float:
        return self.statuses[200] / self.requests if self.requests else 0.0

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def p99(self) -> float:
        return percentile(self.latencies_ms, 0.99)


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@dataclasses.dataclass
class LoadResult:
    """Both phases' figures per plugin, and the health history check (rows must equal probes)."""

    baseline: dict[str, PluginFigures]
    loaded: dict[str, PluginFigures]
    #: Probes made (and recorded) per plugin: the rows there must be.
    probes: dict[str, int]
    #: Rows counted in plugin_health per plugin afterwards.
    health_rows: dict[str, int]
    #: Seconds the good plugins' requests took in each phase.
    baseline_seconds: float
    loaded_seconds: float

    def good_p99(self, phase: dict[str, PluginFigures]) -> float:
        return percentile([ms for plugin_id in GOOD for ms in phase[plugin_id].latencies_ms], 0.99)

    def absorb(
        self, figures: dict[str, PluginFigures], probes: dict[str, int], seconds: float, *, loaded: bool
    ) -> None:
        """Add one round of a phase."""
        phase = self.loaded if loaded else self.baseline
        for plugin_id, plugin in figures.items():
            phase[plugin_id].latencies_ms.extend(plugin.latencies_ms)
            phase[plugin_id].statuses.update(plugin.statuses)
        for plugin_id, made in probes.items():
            self.probes[plugin_id] += made
        if loaded:
            self.loaded_seconds += seconds
        else:
            self.baseline_seconds += seconds

    @property
    def p99_ratio(self) -> float:
        """The good plugins' p99 with the failing plugin's traffic over their p99 without it."""
        return self.good_p99(self.loaded) / self.good_p99(self.baseline)


# The workload ------------------------------------------------------------------------------------


async def _clients(
    session: aiohttp.ClientSession,
    targets: Iterator[tuple[str, str]],
    *,
    clients: int,
    requests: int,
    figures: dict[str, PluginFigures],
    until: float,
    pace: float = 0.0,
    stop: asyncio.Event | None = None,
) -> None:
    """`clients` tasks sending `requests` requests in all, each to the next (plugin, query) of `targets`.

    With `pace`, a client starts a request at most every `pace` seconds; `stop` ends them early.
    """
    budget = itertools.count()

    async def client() -> None:
        while next(budget) < requests and time.monotonic() < until and not (stop and stop.is_set()):
            plugin_id, query = next(targets)
            started = time.perf_counter()
            async with session.get(f"/queries/{query}", params={"$top": "5"}) as response:
                await response.read()
            elapsed = time.perf_counter() - started
            figures[plugin_id].latencies_ms.append(elapsed * 1000)
            figures[plugin_id].statuses[response.status] += 1
            if pace > elapsed:
                await asyncio.sleep(pace - elapsed)

    await asyncio.gather(*(client() for _ in range(clients)))


async def _live(session: aiohttp.ClientSession) -> None:
    async with session.get("/health/live") as response:
        await response.read()


async def _monitor(
    client: RuntimeClient, database: db.Database, url: str, plugin_id: str, *, interval: float, done: asyncio.Event
) -> int:
    """The operator's health monitor for one plugin: probe, record, and record again (a retry). Returns probes made."""
    made = 0
    while not done.is_set():
        probe = await client.probe(url, plugin_id)
        checked_at = datetime.datetime.now(datetime.UTC)
        await asyncio.to_thread(mirror.record_probe, database, plugin_id, checked_at, probe)
        await asyncio.to_thread(mirror.record_probe, database, plugin_id, checked_at, probe)
        made += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), interval)
    return made


async def _phase(
    url: str,
    database: db.Database,
    *,
    clients: int,
    good_requests: int,
    failing_clients: int = 0,
    failing_requests: int = 0,
    failing_pace: float = 0.0,
    probe_interval: float = PROBE_INTERVAL,
    deadline_seconds: float,
) -> tuple[dict[str, PluginFigures], dict[str, int], float]:
    """One phase: the good plugins' traffic, and beside it (while it lasts) failing traffic and monitors.

    Returns the figures, the probes made per plugin and how long the good traffic took.
    """
    figures = {plugin_id: PluginFigures() for plugin_id in (*GOOD, FAILING)}
    warm_up = {plugin_id: PluginFigures() for plugin_id in GOOD}
    until = time.monotonic() + deadline_seconds
    good_done = asyncio.Event()
    runtime_client = RuntimeClient(timeout=5.0)
    connector = aiohttp.TCPConnector(limit=clients + failing_clients)
    async with aiohttp.ClientSession(url, connector=connector) as session:
        good = itertools.cycle([(plugin_id, good_query(plugin_id)) for plugin_id in GOOD])
        failing = itertools.cycle([(FAILING, query) for query in FAILING_QUERIES])
        # Open every connection and warm each plugin's query path before anything is measured.
        await asyncio.gather(*(_live(session) for _ in range(clients + failing_clients)))
        await _clients(session, good, clients=clients, requests=clients, figures=warm_up, until=until)
        beside = [
            asyncio.create_task(
                _clients(
                    session,
                    failing,
                    clients=failing_clients,
                    requests=failing_requests,
                    figures=figures,
                    until=until,
                    pace=failing_pace,
                    stop=good_done,
                )
            )
        ]
        beside += [
            asyncio.create_task(_monitor(runtime_client, database, url, p, interval=probe_interval, done=good_done))
            for p in (*GOOD, FAILING)
        ]
        started = time.perf_counter()
        try:
            await _clients(session, good, clients=clients, requests=good_requests, figures=figures, until=until)
        finally:
            elapsed = time.perf_counter() - started
            good_done.set()
            _, *made = await asyncio.gather(*beside)
            await runtime_client.aclose()
    return figures, dict(zip((*GOOD, FAILING), made, strict=True)), elapsed


def measure(
    url: str,
    database: db.Database,
    *,
    clients: int = CLIENTS,
    good_requests: int = GOOD_REQUESTS,
    failing_clients: int = FAILING_CLIENTS,
    failing_requests: int = FAILING_REQUESTS,
    probe_interval: float = PROBE_INTERVAL,
    deadline_seconds: float = DEADLINE_SECONDS,
    rounds: int = ROUNDS,
) -> LoadResult:
    """Both phases against the runtime at `url`; health rows go to `database` (migrated, may be shared).

    The phases alternate in `rounds` rounds (baseline, then with failures), each with its share of
    the requests and of the deadline, so a change in the machine's background load hits both alike.
    In each round the failing clients are paced to spread over as long as that round's baseline took.
    """
    plugins = (*GOOD, FAILING)
    for plugin_id in plugins:
        database.upsert_plugin(db.PluginRecord(id=plugin_id, name=plugin_id, version="1.0.0"), "bench")
    before = _health_rows(database)
    common = {
        "clients": clients,
        "good_requests": good_requests // rounds,
        "probe_interval": probe_interval,
        "deadline_seconds": deadline_seconds / rounds,
    }
    result = LoadResult(
        baseline={p: PluginFigures() for p in plugins},
        loaded={p: PluginFigures() for p in plugins},
        probes=dict.fromkeys(plugins, 0),
        health_rows={},
        baseline_seconds=0.0,
        loaded_seconds=0.0,
    )
    for _ in range(rounds):
        baseline, probes, took = asyncio.run(_phase(url, database, **common))
        result.absorb(baseline, probes, took, loaded=False)
        pace = took * failing_clients / max(failing_requests // rounds, 1)
        loaded, probes, took = asyncio.run(
            _phase(
                url,
                database,
                failing_clients=failing_clients,
                failing_requests=failing_requests // rounds,
                failing_pace=pace,
                **common,
            )
        )
        result.absorb(loaded, probes, took, loaded=True)
    after = _health_rows(database)
    result.health_rows = {p: after.get(p, 0) - before.get(p, 0) for p in plugins}
    return result


def _health_rows(database: db.Database) -> dict[str, int]:
    column = tables.plugin_health.c.plugin_id
    statement = sa.select(column, sa.func.count()).group_by(column)
    return dict(database.run(lambda tx: [tuple(row) for row in tx.connection.execute(statement)]))


# Report ------------------------------------------------------------------------------------------


def describe(result: LoadResult) -> list[str]:
    lines = []
    for phase, figures in (("baseline", result.baseline), ("with failures", result.loaded)):
        for plugin_id, plugin in figures.items():
            if plugin.requests:
                codes = ", ".join(f"{code}×{count}" for code, count in sorted(plugin.statuses.items()))
                lines.append(
                    f"load {phase} {plugin_id}: {plugin.requests} requests, success {plugin.success_rate:.1%}, "
                    f"p50 {plugin.p50:.2f} ms, p99 {plugin.p99:.2f} ms ({codes})"
                )
    good = sum(result.baseline[p].requests for p in GOOD), sum(result.loaded[p].requests for p in GOOD)
    failing = result.loaded[FAILING].requests
    lines.append(
        f"load good plugins p99: {result.good_p99(result.baseline):.2f} ms alone "
        f"({good[0] / result.baseline_seconds:.0f} req/s), {result.good_p99(result.loaded):.2f} ms beside the failing "
        f"plugin's traffic ({good[1] / result.loaded_seconds:.0f} req/s + {failing / result.loaded_seconds:.0f} req/s "
        f"to the failing plugin); ratio {result.p99_ratio:.2f}"
    )
    expected, written = sum(result.probes.values()), sum(result.health_rows.values())
    per_plugin = ", ".join(f"{p} {result.probes[p]}/{result.health_rows[p]}" for p in result.probes)
    verdict = "exact" if result.probes == result.health_rows else "MISMATCH"
    lines.append(f"load health rows: expected {expected}, written {written} ({verdict}; per plugin {per_plugin})")
    return lines


def run(**sizes: Any) -> list[str]:
    """The full-size load by default; `sizes` (measure's keyword arguments) shrink it for tests."""
    with postgres.temporary_schema_url() as database_url:
        db.migrate(database_url)
        database = db.connect(database_url)
        try:
            with running_runtime(runtime_config()) as url:
                result = measure(url, database, **sizes)
        finally:
            database.dispose()
    return describe(result)


if __name__ == "__main__":
    print("\n".join(run()))
