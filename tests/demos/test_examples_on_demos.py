"""Each demo backend answers what its example plugin asks, through a real `plugin-runtime` process
hosting the example manifest as the operator renders it (only `config.base_url` moved to the test's port)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import httpx
import pytest

from bench.runtime_process import running_runtime
from plugin_devcluster.demos import fleet, items, metrics
from plugin_devcluster.demos.stack import DemoStack
from plugin_operator import health
from plugin_operator.models import ConditionType, HealthReport, Phase
from plugin_operator.runtime_client import ProbeResult, RuntimeClient
from tests.interop.conftest import example_config

from .conftest import backend

CPU_USAGE = "gts.hypernetix.hyperspot.ax.query.v1~prometheus.monitoring._.cpu_usage.v1"
ITEMS = "gts.hypernetix.hyperspot.ax.query.v1~acme.inventory._.items.v1"
SERVERS = "gts.hypernetix.hyperspot.ax.query.v1~acme.fleet._.servers.v1"


def _promql(base: str, query: str, at: float | None = None) -> list[dict]:
    params = {"query": query} | ({"time": f"{at:.3f}"} if at is not None else {})
    answer = httpx.get(f"{base}/api/v1/query", params=params, timeout=10).json()
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


def test_prometheus_demo_answers_the_example_now_and_at_a_past_instant(stack: DemoStack) -> None:
    prometheus = backend(stack, "prometheus-adapter").url
    config = example_config("prometheus-adapter", base_url=prometheus)
    with running_runtime(config) as runtime:
        assert httpx.get(f"{runtime}/plugins/prometheus-adapter/health").json()["status"] == "healthy"
        # No timestamp condition: an instant query "now", as the example's datasource asks.
        now = httpx.get(f"{runtime}/queries/{CPU_USAGE}", params={"$filter": "job eq 'api'"}, timeout=30)
        assert now.status_code == 200, now.text
        rows = now.json()["value"]
        expected = {(i, c, m) for i in metrics.INSTANCES["api"] for c in metrics.CPUS for m in metrics.MODES}
        assert {(r["instance"], r["cpu"], r["mode"]) for r in rows} == expected
        assert all(0 < r["value"] < 2 * metrics.MODES[r["mode"]] for r in rows)  # rates of the generated counters
        # An hour ago (backfilled history): the same rows as PromQL straight from the server.
        at = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)
        past = httpx.get(
            f"{runtime}/queries/{CPU_USAGE}",
            params={"$filter": f"job eq 'db' and timestamp eq {at.isoformat().replace('+00:00', 'Z')}"},
            timeout=30,
        )
        assert past.status_code == 200, past.text
        direct = _promql(prometheus, 'rate(node_cpu_seconds_total{job="db"}[5m])', at.timestamp())
        got = {(r["instance"], r["cpu"], r["mode"]): r["value"] for r in past.json()["value"]}
        assert got == pytest.approx(
            {(s["metric"]["instance"], s["metric"]["cpu"], s["metric"]["mode"]): float(s["value"][1]) for s in direct}
        )
        assert len(got) == len(metrics.CPUS) * len(metrics.MODES)


def test_prometheus_demo_scrapes_live_samples(stack: DemoStack) -> None:
    """Data keeps arriving after start (the exporter is scraped every `SCRAPE_SECONDS`, 15 s in make run;
    the history has one sample a minute), so "now" keeps answering while make run runs, on the same
    curve as the history."""
    prometheus = backend(stack, "prometheus-adapter").url
    selector = 'node_cpu_seconds_total{instance="web-1:9100",cpu="0",mode="user"}[1m]'
    samples: list[list[float]] = []
    until = time.monotonic() + 60
    while len(samples) < 3 and time.monotonic() < until:
        samples = [[float(at), float(v)] for series in _promql(prometheus, selector) for at, v in series["values"]]
        time.sleep(1)
    assert len(samples) >= 3, f"no live scrape: {samples}"
    assert {s["metric"]["job"] for s in _promql(prometheus, "up == 1")} == set(metrics.INSTANCES)
    for at, value in samples:
        assert value == pytest.approx(metrics.counter("web-1:9100", "0", "user", at), abs=0.01)


def test_rest_demo_answers_the_example(stack: DemoStack) -> None:
    config = example_config("rest-items", base_url=backend(stack, "rest-items").url)
    with running_runtime(config) as runtime:
        assert httpx.get(f"{runtime}/plugins/rest-items/health").json()["status"] == "healthy"
        answer = httpx.get(
            f"{runtime}/queries/{ITEMS}",
            params={"$filter": "category eq 'garden'", "$top": "5", "$skip": "2", "$count": "true"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        garden = [i for i in items.ITEMS if i["attributes"]["category"] == "garden"]
        assert answer.json()["@odata.count"] == len(garden) == items.COUNT // len(items.CATEGORIES)
        assert [r["id"] for r in answer.json()["value"]] == [i["id"] for i in garden[2:7]]
        assert answer.json()["value"][0] == {"id": garden[2]["id"], **garden[2]["attributes"]}


def test_graphql_demo_answers_the_example(stack: DemoStack) -> None:
    config = example_config("graphql-fleet", base_url=backend(stack, "graphql-fleet").url)
    with running_runtime(config) as runtime:
        assert httpx.get(f"{runtime}/plugins/graphql-fleet/health").json()["status"] == "healthy"
        answer = httpx.get(
            f"{runtime}/queries/{SERVERS}",
            params={"$filter": "cpu gt 50 and env eq 'prod'", "$orderby": "cpu desc", "$top": "3"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        expected = sorted((s for s in fleet.DATA if s.cpu > 50 and s.env == "prod"), key=lambda s: -s.cpu)[:3]
        assert [(r["host"], r["cpu"]) for r in answer.json()["value"]] == [(s.host, s.cpu) for s in expected]


def test_elasticsearch_example_is_degraded_with_a_message_naming_the_url_and_the_error(stack: DemoStack) -> None:
    """No Elasticsearch here: the banner says so, and the condition tells a newcomer where and why."""
    elasticsearch = backend(stack, "elasticsearch-logs")
    assert not elasticsearch.running and "no Elasticsearch server on this machine" in elasticsearch.detail
    config = example_config("elasticsearch-logs", base_url=elasticsearch.url)
    with running_runtime(config) as runtime:
        probe = asyncio.run(_probe(runtime, "elasticsearch-logs"))
    report = HealthReport(consecutive_failures=2)
    assessed = health.assess(report, probe, phase=Phase.ACTIVE, now="2026-01-01T00:00:00Z", unhealthy_after=3)
    [condition] = [o for o in assessed.observations if o.type is ConditionType.BACKEND_HEALTHY]
    assert condition.status == "False"
    assert condition.message == (
        f"Elasticsearch API is unhealthy: unreachable at {elasticsearch.url}: [Errno 111] Connection refused"
        " (3 consecutive probes)"
    )


async def _probe(runtime: str, plugin_id: str) -> ProbeResult:
    client = RuntimeClient()
    try:
        return await client.probe(runtime, plugin_id)
    finally:
        await client.aclose()
