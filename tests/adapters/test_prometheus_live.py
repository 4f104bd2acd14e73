"""The Prometheus adapter against a real Prometheus loaded with `dataset`.

Two oracles: for a table of OData queries the adapter's rows must equal what the same PromQL returns
when sent to Prometheus directly (converted here independently of the adapter), and for a second
table they must equal numbers derived from the data set itself.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from adapters.prometheus.plugin import PrometheusPlugin
from plugin_runtime import answer_json, errors, interface, json_rows, odata
from tests.adapters import dataset, servers
from tests.adapters.conftest import QUERY_ID, config

CTX = interface.SecurityCtx(subject="tester")
MakePlugin = Callable[..., PrometheusPlugin]
RANGE = "timestamp ge 2023-11-14T22:13:20Z and timestamp le 2023-11-14T22:33:20Z"
AT_10 = "timestamp eq 2023-11-14T22:23:20Z"  # minute 10 of the data set


def run(plugin: PrometheusPlugin, **options: str) -> interface.QueryResult:
    return plugin.execute_query(CTX, QUERY_ID, odata.parse_params(options))


def direct_rows(base_url: str, translation: interface.Translation) -> list[dict[str, Any]]:
    """Ask Prometheus the translated PromQL ourselves and flatten the answer into rows."""
    assert translation.endpoint is not None
    path, _, when = translation.endpoint.partition("?")
    body = httpx.get(base_url + path, params={"query": translation.query, **dict(parse_qsl(when))}).json()
    assert body["status"] == "success", body
    data = body["data"]
    series = (
        [(s["metric"], [s["value"]]) for s in data["result"]]
        if data["resultType"] == "vector"
        else [(s["metric"], s["values"]) for s in data["result"]]
    )
    rows = []
    for labels, samples in series:
        labels = dict(labels)
        name = labels.pop("__name__", None)
        for at, value in samples:
            stamp = dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="milliseconds")
            rows.append({"metric": name, **labels, "timestamp": stamp.replace("+00:00", "Z"), "value": float(value)})
    return rows


def canonical(rows: Any) -> list[tuple[tuple[str, Any], ...]]:
    return sorted(tuple(sorted(row.items())) for row in rows)


@pytest.mark.parametrize(
    ("options", "request_options"),
    [
        ({"metric": "http_requests_total"}, {"$filter": f"job eq 'api' and {AT_10}"}),
        ({}, {"$filter": f"metric eq 'http_requests_total' and contains(path,'/v1/a.b') and {RANGE}"}),
        ({}, {"$filter": f"metric eq 'queue_depth' and startswith(queue,'orders.') and {RANGE}", "step": "5m"}),
        ({}, {"$filter": f"metric eq 'queue_depth' and endswith(queue,'(v2)') and {AT_10}"}),
        ({"metric": "temperature_celsius"}, {"$filter": f"sensor in ('rack+1','rack|2') and {RANGE}"}),
        ({"metric": "temperature_celsius"}, {"$filter": f"sensor eq 'lab \"7\"\\x' and {AT_10}"}),
        ({"metric": "temperature_celsius"}, {"$filter": f"not (sensor eq 'rack+1') and value gt 0 and {RANGE}"}),
        ({}, {"$filter": f"(metric eq 'queue_depth' or metric eq 'temperature_celsius') and {AT_10}"}),
        (
            {},
            {"$filter": f"startswith(metric,'node_') and (mode eq 'user' or instance eq '10.0.0.1:9100') and {AT_10}"},
        ),
        ({"metric": "node_cpu_seconds_total", "rate": "5m", "aggregate": "sum", "by": ["mode"]}, {"$filter": RANGE}),
        ({"metric": "http_requests_total", "rate": "5m"}, {"$filter": "code eq '200' or job eq 'web'"}),
        ({"metric": "http_requests_total", "aggregate": "max", "by": ["job", "code"]}, {"$filter": AT_10}),
        ({"metric": "queue_depth"}, {"$filter": f"value ge 5 and value lt 12 and {RANGE}"}),
        ({"metric": "queue_depth"}, {"$filter": "timestamp ge 2023-11-14T23:03:20Z"}),
        ({"metric": "queue_depth"}, {}),
    ],
)
def test_rows_equal_what_the_same_promql_returns_directly(
    prometheus_plugin: MakePlugin, prometheus_url: str, options: dict, request_options: dict
) -> None:
    plugin = prometheus_plugin(options)
    result = run(plugin, **request_options)
    expected = direct_rows(prometheus_url, plugin.translate(QUERY_ID, odata.parse_params(request_options)))
    assert expected, "the case must select data, or it proves nothing"
    assert canonical(result.rows) == canonical(expected)
    assert result.count is None and result.has_more is False


def test_instant_rows_hold_the_samples_of_the_data_set(prometheus_plugin: MakePlugin) -> None:
    result = run(prometheus_plugin(), **{"$filter": f"metric eq 'queue_depth' and {AT_10}"})
    expected = [
        {
            "metric": "queue_depth",
            "queue": s.label_map["queue"],
            "timestamp": dataset.iso(dataset.START + 600),
            "value": s.at(10),
        }
        for s in dataset.select("queue_depth")
    ]
    assert canonical(result.rows) == canonical(expected)
    assert result.entity_set == "samples"


def test_range_rows_are_one_per_step_and_honour_exclusive_bounds(prometheus_plugin: MakePlugin) -> None:
    plugin = prometheus_plugin({"metric": "temperature_celsius"})
    flt = "sensor eq 'rack|2' and timestamp gt 2023-11-14T22:13:20Z and timestamp lt 2023-11-14T22:18:20Z"
    result = run(plugin, **{"$filter": flt})
    (series,) = dataset.select("temperature_celsius", sensor="rack|2")
    assert [(row["timestamp"], row["value"]) for row in result.rows] == [
        (dataset.iso(dataset.START + 60 * i), series.at(i)) for i in (1, 2, 3, 4)
    ]


def test_regex_special_characters_match_literally(prometheus_plugin: MakePlugin) -> None:
    plugin = prometheus_plugin({"metric": "http_requests_total"})
    paths = {row["path"] for row in run(plugin, **{"$filter": f"contains(path,'/v1/a.b') and {AT_10}"}).rows}
    assert paths == {"/v1/a.b"}  # not /v1/aXb
    sensors = {
        row["sensor"]
        for row in run(
            prometheus_plugin({"metric": "temperature_celsius"}),
            **{"$filter": f"sensor in ('rack|2','lab \"7\"\\x') and {AT_10}"},
        ).rows
    }
    assert sensors == {"rack|2", 'lab "7"\\x'}


def test_rate_and_aggregation_from_the_query_definition(prometheus_plugin: MakePlugin) -> None:
    plugin = prometheus_plugin({"metric": "http_requests_total", "rate": "5m", "aggregate": "sum", "by": ["job"]})
    result = run(plugin, **{"$filter": "path eq '/v1/a.b' and code eq '200'"})
    # The counter grows by 10 a minute, so its rate is 10/60 per second at every point.
    assert [(row["job"], row["metric"], round(row["value"], 9)) for row in result.rows] == [
        ("api", None, round(10 / 60, 9))
    ]


def test_value_filters_apply_to_the_samples(prometheus_plugin: MakePlugin) -> None:
    result = run(prometheus_plugin({"metric": "queue_depth"}), **{"$filter": f"value ge 5 and {AT_10}"})
    expected = sorted(s.label_map["queue"] for s in dataset.select("queue_depth") if s.at(10) >= 5)
    assert sorted(row["queue"] for row in result.rows) == expected and expected


def test_no_time_condition_reads_now(prometheus_plugin: MakePlugin) -> None:
    result = run(prometheus_plugin({"metric": "queue_depth"}), **{"$filter": "queue eq 'billing(v2)'"})
    (series,) = dataset.select("queue_depth", queue="billing(v2)")
    assert [(row["timestamp"], row["value"]) for row in result.rows] == [(dataset.iso(dataset.END), series.at(60))]


def test_select_orderby_top_skip_and_count(prometheus_plugin: MakePlugin) -> None:
    plugin = prometheus_plugin({"metric": "node_cpu_seconds_total"})
    result = run(
        plugin,
        **{
            "$filter": AT_10,
            "$orderby": "value desc",
            "$top": "2",
            "$skip": "1",
            "$count": "true",
            "$select": "instance,mode,value",
        },
    )
    ranked = sorted(dataset.select("node_cpu_seconds_total"), key=lambda s: -s.at(10))
    assert list(result.rows) == [
        {"instance": s.label_map["instance"], "mode": s.label_map["mode"], "value": s.at(10)} for s in ranked[1:3]
    ]
    assert result.count == len(ranked) == 6
    assert result.has_more is True


def test_page_size_bounds_a_request_without_top(prometheus_plugin: MakePlugin) -> None:
    result = run(prometheus_plugin({"metric": "queue_depth"}, page_size=4), **{"$filter": RANGE, "$count": "true"})
    assert len(result.rows) == 4 and result.has_more is True and result.count == 3 * 21


def test_health_reports_prometheus_with_its_response_time(prometheus_plugin: MakePlugin) -> None:
    health = prometheus_plugin().health_check()
    assert health.status is interface.HealthState.HEALTHY
    (dependency,) = health.dependencies
    assert dependency.name == "Prometheus API" and dependency.status is interface.HealthState.HEALTHY
    assert dependency.response_time_ms is not None and dependency.response_time_ms >= 0


def test_a_promql_error_from_the_server_is_502_with_its_message(prometheus_plugin: MakePlugin) -> None:
    # rate() drops metric names; these two counters share label sets, which Prometheus refuses.
    plugin = prometheus_plugin({"rate": "5m"})
    with pytest.raises(errors.BackendError) as caught:
        run(plugin, **{"$filter": f"metric in ('http_requests_total','http_response_bytes_total') and {AT_10}"})
    problem = caught.value.to_problem()
    assert problem["status"] == 502
    assert "vector cannot contain metrics with the same labelset" in problem["detail"]


def test_prometheus_down_is_503_and_unhealthy() -> None:
    plugin = PrometheusPlugin()
    down = servers.closed_port_url()
    plugin.init(config(down, {"metric": "up"}, retry_count=2))
    try:
        with pytest.raises(errors.PluginUnavailable) as caught:
            run(plugin)
        assert caught.value.to_problem()["status"] == 503
        health = plugin.health_check()
        assert health.status is interface.HealthState.UNHEALTHY
        assert health.dependencies[0].status is interface.HealthState.UNHEALTHY
        # Where and why, for whoever reads the BackendHealthy condition.
        assert health.dependencies[0].message == f"unreachable at {down}: [Errno 111] Connection refused"
    finally:
        plugin.shutdown()


def test_prometheus_slow_is_504_within_the_timeout() -> None:
    def stall(request: servers.Request) -> servers.Reply:
        time.sleep(3)
        return servers.Reply(200, {"status": "success", "data": {"resultType": "vector", "result": []}})

    with servers.serving(stall) as server:
        plugin = PrometheusPlugin()
        plugin.init(config(server.url, {"metric": "up"}, timeout="500ms"))
        try:
            started = time.monotonic()
            with pytest.raises(errors.BackendTimeout) as caught:
                run(plugin)
            elapsed = time.monotonic() - started
            assert caught.value.to_problem()["status"] == 504
            assert 0.5 <= elapsed < 1.5
            assert (
                plugin.health_check().dependencies[0].message == f"timed out: no answer from {server.url} within 0.5s"
            )
        finally:
            plugin.shutdown()


def test_queries_are_posted_with_the_configured_bearer_token() -> None:
    def answer(request: servers.Request) -> servers.Reply:
        return servers.Reply(200, {"status": "success", "data": {"resultType": "vector", "result": []}})

    with servers.serving(answer) as server:
        plugin = PrometheusPlugin()
        plugin.init(config(server.url, {"metric": "up"}, secrets={"bearer_token": "s3cr3t"}))
        try:
            assert run(plugin, **{"$filter": "job eq 'a'"}).rows == ()
        finally:
            plugin.shutdown()
    (sent,) = server.requests
    assert (sent.method, sent.path) == ("POST", "/api/v1/query")
    assert sent.form["query"] == 'up{job="a"}'
    assert sent.headers["authorization"] == "Bearer s3cr3t"


def test_an_unknown_query_is_404(prometheus_plugin: MakePlugin) -> None:
    with pytest.raises(errors.NotFound):
        prometheus_plugin().execute_query(CTX, "gts.x.y.z.w.v1~a.b.c.d.v1", odata.parse_params({}))


def test_translations_are_cached_per_query_and_filter(prometheus_plugin: MakePlugin) -> None:
    plugin = prometheus_plugin({"metric": "up"})
    params = odata.parse_params({"$filter": "job eq 'a'"})
    first = plugin.translate(QUERY_ID, params)
    assert plugin.translate(QUERY_ID, odata.parse_params({"$filter": "job eq 'a'", "step": "5m"})).query == first.query
    info = plugin._cached.cache_info()  # type: ignore[union-attr]
    assert (info.hits, info.misses) == (1, 1)


@pytest.mark.parametrize(
    "request_options",
    [
        {"$filter": f"metric eq 'temperature_celsius' and {RANGE}"},
        {"$filter": f"metric eq 'temperature_celsius' and {RANGE}", "$top": "7", "$skip": "5", "$count": "true"},
        {"$filter": f"metric eq 'temperature_celsius' and {RANGE}", "$skip": "1000"},
        {"$filter": f"metric eq 'temperature_celsius' and {AT_10}"},
    ],
)
def test_rows_written_as_json_answer_what_row_dicts_answer(
    prometheus_plugin: MakePlugin, request_options: dict[str, str]
) -> None:
    """Without $orderby/$select the adapter writes rows straight to JSON text; a $select naming every
    property in row order takes the dict path: the two answers must be the same bytes."""
    plugin = prometheus_plugin(page_size=50)
    written = run(plugin, **request_options)
    assert isinstance(written.rows, json_rows.JsonRows)
    every = ",".join(["metric", "sensor", "site", "timestamp", "value"])
    dicts = run(plugin, **request_options, **{"$select": every})
    assert isinstance(dicts.rows, tuple)
    assert (written.count, written.has_more) == (dicts.count, dicts.has_more)

    def answer(result: interface.QueryResult) -> bytes:
        return answer_json.encode(result.to_odata(context="c"))

    assert answer(written) == answer(dicts)
    assert list(written.rows) == list(dicts.rows)
