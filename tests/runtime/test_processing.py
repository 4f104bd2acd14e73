"""Pre/post-processing: declarative steps (pure, then on the built-in REST adapter against a real API)
and a plugin's own hooks, with their errors as problems."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from plugin_runtime import config, errors, interface, odata, processing
from tests.adapters import servers

from .conftest import Serve
from .support import plugin_entry, query_id

CTX = interface.SecurityCtx("alice", tenant="acme", roles=frozenset({"viewer"}))
HOOKED = query_id("hooked")
METRICS = query_id("host_metrics")


def pipeline(*steps: dict[str, Any]) -> processing.Pipeline:
    return processing.compile_steps([config.ProcessingStep.model_validate(step) for step in steps])


STEPS = (
    {"rename": {"cpu": "cpu_usage", "host": "hostname"}},
    {"convert": {"property": "memory", "from": "B", "to": "MiB"}},
    {"compute": {"cpu_pct": "round(cpu mul 100)"}},
    {"drop": ["internal_id"]},
)
BACKEND_ROW = {"hostname": "web-1", "cpu_usage": 0.8251, "memory": 3 * 2**20, "internal_id": 7}


def test_options_are_rewritten_into_the_backends_names_and_rows_back() -> None:
    params = odata.parse_params(
        {"$filter": "host eq 'web-1' and cpu gt 0.5", "$select": "host,cpu_pct,memory", "$orderby": "cpu desc"}
    )
    rewritten, rows = pipeline(*STEPS).options(params, CTX)
    assert rewritten.filter == "hostname eq 'web-1' and cpu_usage gt 0.5"
    assert rewritten.filter_ast == odata.parse_filter(rewritten.filter)
    assert rewritten.select == ("hostname", "cpu_usage", "memory")  # cpu_pct needs cpu
    assert rewritten.orderby == (odata.OrderBy("cpu_usage", descending=True),)
    answer = rows(interface.QueryResult((BACKEND_ROW,), "metrics", count=12, has_more=True))
    assert answer.rows == ({"host": "web-1", "cpu_pct": 83.0, "memory": 3.0},)
    assert (answer.count, answer.has_more) == (12, True)  # steps never change the row count or paging


def test_without_select_every_public_property_is_returned() -> None:
    _, rows = pipeline(*STEPS).options(odata.parse_params({}), CTX)
    (row,) = rows(interface.QueryResult((BACKEND_ROW,), "metrics")).rows
    assert row == {"host": "web-1", "cpu": 0.8251, "memory": 3.0, "cpu_pct": 83.0}


@pytest.mark.parametrize(
    ("options", "error", "says"),
    [
        ({"$filter": "internal_id eq 7"}, errors.InvalidQuery, "'internal_id' is not exposed"),
        ({"$orderby": "internal_id"}, errors.InvalidQuery, "'internal_id' is not exposed"),
        ({"$select": "internal_id"}, errors.InvalidQuery, "'internal_id' is not exposed"),
        ({"$filter": "cpu_pct gt 50"}, errors.NotSupported, "filter and sort on cpu"),
        ({"$orderby": "cpu_pct desc"}, errors.NotSupported, "filter and sort on cpu"),
        ({"$filter": "memory gt 1"}, errors.NotSupported, "'memory' is converted"),
    ],
)
def test_what_cannot_reach_the_backend_is_refused_clearly(
    options: dict[str, str], error: type[errors.PluginError], says: str
) -> None:
    with pytest.raises(error) as caught:
        pipeline(*STEPS).options(odata.parse_params(options), CTX)
    assert type(caught.value) is error and says in caught.value.detail


def test_defaults_and_a_tenant_filter() -> None:
    steps = pipeline({"defaults": {"$top": "50", "step": "5m"}}, {"where": "tenant eq {tenant}"})
    params, _ = steps.options(odata.parse_params({"$top": "3", "$filter": "job eq 'api'"}), CTX)
    assert (params.top, params.custom, params.filter) == (3, {"step": "5m"}, "tenant eq 'acme' and job eq 'api'")
    hostile = interface.SecurityCtx("mallory", tenant="x' or 'a' eq 'a")
    params, _ = steps.options(odata.parse_params({}), hostile)
    assert params.filter == "tenant eq 'x'' or ''a'' eq ''a'"  # the tenant stays one string literal
    assert params.top == 50
    with pytest.raises(errors.Forbidden):
        steps.options(odata.parse_params({}), interface.SecurityCtx("anonymous"))


@pytest.mark.parametrize(
    "text",
    [
        "name eq 'it''s'",
        "tenant eq 'x'' or ''a'' eq ''a'",
        "a eq 1 and (b eq 'x' or not (c lt 2.5))",
        "contains(n, 'q')",
    ],
)
def test_filters_are_written_back_as_they_were_read(text: str) -> None:
    node = odata.parse_filter(text)
    assert odata.parse_filter(processing.filter_text(node)) == node


@pytest.mark.parametrize(
    ("step", "says"),
    [
        ({"compute": {"x": "name eq 'a'"}}, "only numbers, properties"),
        ({"compute": {"x": "cpu mul"}}, "compute 'cpu mul'"),
        ({"convert": {"property": "m", "from": "B", "to": "ms"}}, "cannot convert 'B' to 'ms'"),
        ({"defaults": {"$top": "-1"}}, "$top must be a non-negative integer"),
        ({"where": "tenant eq"}, "where 'tenant eq'"),
        ({"rename": {"a": "b"}, "drop": ["c"]}, "exactly one of"),
    ],
)
def test_bad_declarations_fail_with_their_step_named(step: dict[str, Any], says: str) -> None:
    with pytest.raises(processing.StepError) as caught:
        pipeline({"drop": ["unused"]}, step)
    assert "processing step 2" in str(caught.value) and says in str(caught.value)


# -- on a built-in adapter -----------------------------------------------------------------------------

HOSTS = [
    {"hostname": f"web-{n}", "cpu_usage": n / 10, "memory": n * 2**20, "internal_id": n, "zone": "eu"}
    for n in range(1, 6)
]


def metrics_api(request: servers.Request) -> servers.Reply:
    rows = [row for row in HOSTS if "host" not in request.args or row["hostname"] == request.args["host"]]
    return servers.Reply(200, {"hosts": rows})


@pytest.fixture
def metrics_server() -> Iterator[servers.Server]:
    with servers.serving(metrics_api) as server:
        yield server


def rest_config(url: str, **plugin: Any) -> dict[str, Any]:
    return {
        "watch_interval_seconds": None,
        "plugins": [
            {
                "id": "host-metrics",
                "version": "1.0.0",
                "adapter": "rest",
                "settings": {"base_url": url, "retry_count": 0},
                "processing": [STEPS[0], STEPS[1]],
                "queries": [
                    {
                        "id": METRICS,
                        "name": "Host metrics",
                        "category": "tests",
                        "api_endpoint": "/tests/host-metrics",
                        "capabilities_id": (
                            "gts.hypernetix.hyperspot.ax.query_capabilities.v1~hyperspot.tests._.default.v1"
                        ),
                        "returns_schema_id": "gts.hypernetix.hyperspot.ax.schema.v1~hyperspot.tests._.row.v1~",
                        "options": {"url": "{base_url}/hosts?host={filter.hostname}", "rows": "$.hosts[*]"},
                        "processing": [STEPS[2], STEPS[3]],  # the query's own steps run after the plugin's
                    }
                ],
                **plugin,
            }
        ],
    }


def test_declared_steps_rewrite_options_and_rows_of_a_built_in_adapter(
    serve: Serve, metrics_server: servers.Server
) -> None:
    with serve(rest_config(metrics_server.url)) as runtime:
        options = {"$filter": "host eq 'web-3'", "$select": "host,cpu_pct,memory"}
        translated = runtime.get(f"/queries/{METRICS}/translate", params=options).json()
        assert translated["options"]["$filter"] == "hostname eq 'web-3'"
        assert translated["query"] == f"GET {metrics_server.url}/hosts?host=web-3"
        answer = runtime.get(f"/queries/{METRICS}", params=options)
        assert answer.status_code == 200, answer.text
        assert answer.json()["value"] == [{"host": "web-3", "cpu_pct": 30.0, "memory": 3.0}]
        assert metrics_server.requests[-1].args == {"host": "web-3"}
        paged = runtime.get(f"/queries/{METRICS}", params={"$top": "2", "$count": "true", "$orderby": "cpu desc"})
        body = paged.json()
        assert body["@odata.count"] == 5 and "@odata.nextLink" not in body  # $top limits the result
        assert [row["host"] for row in body["value"]] == ["web-5", "web-4"]
        assert all("internal_id" not in row and "hostname" not in row for row in body["value"])
        refused = runtime.get(f"/queries/{METRICS}", params={"$filter": "internal_id eq 1"})
        assert refused.status_code == 400 and refused.json()["property"] == "internal_id"
        assert runtime.get(f"/queries/{METRICS}", params={"$orderby": "cpu_pct"}).status_code == 501


def test_a_bad_declaration_fails_only_its_plugins_load(serve: Serve, metrics_server: servers.Server) -> None:
    broken = rest_config(metrics_server.url, processing=[{"convert": {"property": "m", "from": "B", "to": "h"}}])
    with serve(broken) as runtime:
        (error,) = runtime.get("/metadata").json()["errors"]
        assert error["plugin_id"] == "host-metrics" and error["stage"] == "manifest"
        assert "processing step 1" in error["message"]


# -- a plugin's own hooks ----------------------------------------------------------------------------


def test_plugin_hooks_rewrite_options_and_rows(serve: Serve, plugins_dir: Path) -> None:
    with serve({"plugins_dir": str(plugins_dir), "plugins": [plugin_entry("hooks")]}) as runtime:
        rows = runtime.get(f"/queries/{HOOKED}", params={"$top": "50"}).json()["value"]
        assert len(rows) == 5 and rows[0] == {"n": 0, "received_top": 5, "received_filter": "n ge 0", "doubled": 0}
        translated = runtime.get(f"/queries/{HOOKED}/translate", params={"$top": "50"}).json()
        assert translated["options"] == {"$top": "5", "$filter": "n ge 0"}
        assert translated["query"] == {"top": 5, "filter": "n ge 0"}


@pytest.mark.parametrize(
    ("fail", "status", "says"),
    [
        ("pre-invalid", 400, "refuses fail=pre-invalid"),
        ("pre-crash", 500, "failed in its preprocess hook (KeyError)"),
        ("pre-bad-filter", 500, "preprocess produced an invalid $filter"),
        ("pre-wrong-type", 500, "preprocess returned dict, not ODataParams"),
    ],
)
def test_hook_errors_are_clear_problems(serve: Serve, plugins_dir: Path, fail: str, status: int, says: str) -> None:
    with serve({"plugins_dir": str(plugins_dir), "plugins": [plugin_entry("hooks")]}) as runtime:
        response = runtime.get(f"/queries/{HOOKED}", params={"fail": fail})
        assert response.status_code == status
        assert says in response.json()["detail"]
        if status == 500:
            assert response.json()["hook"] == "preprocess"
        crashed = runtime.get(f"/queries/{HOOKED}", params={"$top": "1"})
        assert crashed.status_code == 500 and crashed.json()["hook"] == "postprocess"
        assert "failed in its postprocess hook (ZeroDivisionError)" in crashed.json()["detail"]
