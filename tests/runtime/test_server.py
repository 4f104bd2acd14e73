"""The HTTP surface over real HTTP: OData answers, every error status as problem JSON, health,
metadata, metrics and the admin endpoints."""

from __future__ import annotations

import concurrent.futures
import shutil
import subprocess
import time
import urllib.parse
from pathlib import Path
from typing import Any

import httpx
import pytest

from plugin_runtime import errors

from .conftest import Serve
from .support import GOOD_QUERY, plugin_entry, query_id, wait_for

ADMIN = {"PLUGIN_RUNTIME_ADMIN_TOKEN": "admin-token-for-tests"}
ADMIN_HEADERS = {"Authorization": "Bearer admin-token-for-tests"}
HEALTH_FIELDS = {
    "status",
    "plugin_id",
    "version",
    "uptime",
    "queries_executed",
    "error_rate",
    "last_error",
    "last_error_message",
    "circuit",
    "dependencies",
}


def config(plugins_dir: Path, *, good: dict[str, Any] | None = None, **flaky: Any) -> dict[str, Any]:
    flaky_entry = plugin_entry(
        "flaky",
        timeout_seconds=0.5,
        max_concurrent_queries=2,
        breaker={"failure_threshold": 3, "cooldown_seconds": 60},
        secret_env={"api_key": "FLAKY_KEY"},
    )
    return {
        "plugins_dir": str(plugins_dir),
        "drain_seconds": 0.5,
        "plugins": [plugin_entry("good", **(good or {})), flaky_entry | flaky],
    }


ENV = {**ADMIN, "FLAKY_KEY": "flaky-secret-4711"}


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == errors.PROBLEM_CONTENT_TYPE
    body = response.json()
    assert body["status"] == status
    assert body["type"] == errors.PROBLEM_BASE + slug
    assert body["instance"] == urllib.parse.unquote(httpx.URL(str(response.request.url)).path)
    return body


def test_top_limits_the_result_and_yields_no_next_link(serve: Serve, plugins_dir: Path) -> None:
    with serve(config(plugins_dir), environ=ENV) as runtime:
        response = runtime.get(
            f"/queries/{GOOD_QUERY}",
            params={"$top": "10", "$count": "true", "$orderby": "n desc", "$select": "n,version"},
        )
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        assert list(body) == ["@odata.context", "@odata.count", "value"]
        assert body["@odata.context"] == f"{runtime.url}/$metadata#good_items"
        assert body["@odata.count"] == 25  # the whole filtered set, not the page
        assert [row["n"] for row in body["value"]] == list(range(24, 14, -1))
        assert body["value"][0] == {"n": 24, "version": "1.0.0"}


def follow(runtime: Any, path: str, params: dict[str, str]) -> tuple[list[int], list[httpx.URL]]:
    """Every row of a result through its next links, and the links followed."""
    body = runtime.get(path, params=params).json()
    seen, links = [row["n"] for row in body["value"]], []
    while "@odata.nextLink" in body:
        links.append(httpx.URL(body["@odata.nextLink"]))
        body = runtime.client.get(links[-1]).json()
        seen += [row["n"] for row in body["value"]]
    return seen, links


def test_server_driven_paging_at_the_plugins_page_size(serve: Serve, plugins_dir: Path) -> None:
    good = {"settings": {"page_size": 10}}
    with serve(config(plugins_dir, good=good), environ=ENV) as runtime:
        seen, links = follow(runtime, f"/queries/{GOOD_QUERY}", {"$orderby": "n desc", "$count": "true"})
        assert seen == list(range(24, -1, -1))
        assert len(links) == 2  # 10 + 10 + 5
        for link in links:
            assert link.params["$orderby"] == "n desc" and "$skip" not in link.params
            assert link.params["$skiptoken"] and not link.params["$skiptoken"].isdigit()  # opaque


def test_top_larger_than_a_page_is_paged_and_still_ends_at_top(serve: Serve, plugins_dir: Path) -> None:
    good = {"settings": {"page_size": 10}}
    with serve(config(plugins_dir, good=good), environ=ENV) as runtime:
        seen, links = follow(runtime, f"/queries/{GOOD_QUERY}", {"$top": "15", "$skip": "3"})
        assert seen == list(range(3, 18))
        assert len(links) == 1 and links[0].params["$top"] == "15" and links[0].params["$skip"] == "3"
        # $top within one page: the result is complete, no link.
        body = runtime.get(f"/queries/{GOOD_QUERY}", params={"$top": "10"}).json()
        assert len(body["value"]) == 10 and "@odata.nextLink" not in body


def test_a_query_option_page_size_overrides_the_plugins(serve: Serve, plugins_dir: Path) -> None:
    manifest = plugins_dir / "good" / "plugin.yaml"
    text = manifest.read_text().replace("    api_endpoint:", "    options: {page_size: 7}\n    api_endpoint:")
    manifest.write_text(text)
    with serve(config(plugins_dir, good={"settings": {"page_size": 10}}), environ=ENV) as runtime:
        seen, links = follow(runtime, f"/queries/{GOOD_QUERY}", {})
        assert seen == list(range(25)) and len(links) == 3  # 7 + 7 + 7 + 4


def test_a_skiptoken_from_another_request_or_forged_is_refused(serve: Serve, plugins_dir: Path) -> None:
    with serve(config(plugins_dir, good={"settings": {"page_size": 10}}), environ=ENV) as runtime:
        body = runtime.get(f"/queries/{GOOD_QUERY}", params={"$orderby": "n desc"}).json()
        token = httpx.URL(body["@odata.nextLink"]).params["$skiptoken"]
        other = runtime.get(f"/queries/{GOOD_QUERY}", params={"$orderby": "n asc", "$skiptoken": token})
        assert assert_problem(other, 400, "invalid-query")["option"] == "$skiptoken"
        for forged in ("10", "p1.zzzz", "p1." + "A" * 8):
            response = runtime.get(f"/queries/{GOOD_QUERY}", params={"$orderby": "n desc", "$skiptoken": forged})
            assert_problem(response, 400, "invalid-query")


def test_query_answers_on_its_own_api_endpoint_too(serve: Serve, plugins_dir: Path) -> None:
    with serve(config(plugins_dir, good={"settings": {"page_size": 2}}), environ=ENV) as runtime:
        by_id = runtime.get(f"/queries/{GOOD_QUERY}").json()
        by_endpoint = runtime.get("/tests/good-items").json()
        assert by_endpoint["value"] == by_id["value"]
        assert by_endpoint["@odata.nextLink"].startswith(f"{runtime.url}/tests/good-items?")


def test_translate_returns_the_adapters_translation(serve: Serve, plugins_dir: Path) -> None:
    with serve(config(plugins_dir), environ=ENV) as runtime:
        response = runtime.get(f"/queries/{GOOD_QUERY}/translate", params={"$top": "3", "$filter": "n gt 1"})
        assert response.status_code == 200
        assert response.json() == {
            "language": "test",
            "query": {"top": 3, "filter": "n gt 1"},
            "endpoint": "memory://good",
            "options": {"$top": "3", "$filter": "n gt 1"},  # no preprocessing declared: as given
        }
        metrics = runtime.get("/metrics").text
        assert f'plugin_runtime_translation_duration_seconds_count{{plugin="good",query="{GOOD_QUERY}"}} 1.0' in metrics


def test_translate_without_adapter_support_is_501(serve: Serve, plugins_dir: Path) -> None:
    with serve(config(plugins_dir), environ=ENV) as runtime:
        body = assert_problem(runtime.get(f"/queries/{query_id('fine')}/translate"), 501, "not-supported")
        assert "plugin 'flaky' cannot show its backend queries" in body["detail"]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"$top": "-1"}, "$top must be a non-negative integer"),
        ({"$filter": "n gt 1)"}, "$filter: unexpected ')' at position 6"),
        ({"$orderby": "n sideways"}, "direction must be asc or desc"),
        ({"$unknown": "1"}, "unknown system query option $unknown"),
    ],
)
def test_malformed_odata_is_400(serve: Serve, plugins_dir: Path, params: dict[str, str], fragment: str) -> None:
    with serve(config(plugins_dir), environ=ENV) as runtime:
        body = assert_problem(runtime.get(f"/queries/{GOOD_QUERY}", params=params), 400, "invalid-query")
        assert fragment in body["detail"]


def test_unknown_query_route_and_method_are_problems(serve: Serve, plugins_dir: Path) -> None:
    with serve(config(plugins_dir), environ=ENV) as runtime:
        body = assert_problem(runtime.get(f"/queries/{GOOD_QUERY}x"), 404, "not-found")
        assert body["detail"] == f"no query '{GOOD_QUERY}x' in this runtime"
        assert_problem(runtime.get("/no/such/path"), 404, "not-found")
        assert_problem(runtime.get("/plugins/nope/health"), 404, "not-found")
        assert_problem(runtime.post("/health"), 405, "method-not-allowed")
        body = assert_problem(runtime.post("/admin/plugins/good/explode", headers=ADMIN_HEADERS), 400, "invalid-input")
        assert "action" in body["detail"]


def test_plugin_crash_is_500_naming_the_plugin_without_leaking_details(serve: Serve, plugins_dir: Path) -> None:
    with serve(config(plugins_dir), environ=ENV) as runtime:
        body = assert_problem(runtime.get(f"/queries/{query_id('boom')}"), 500, "plugin-failure")
        assert body["detail"] == f"plugin 'flaky' failed during query '{query_id('boom')}'; see the runtime log"
        assert "flaky-secret-4711" not in str(body) and "crashed" not in str(body)
        # sys.exit() in plugin code is a plugin failure too, not the end of the server.
        assert_problem(runtime.get(f"/queries/{query_id('exits')}"), 500, "plugin-failure")
        assert runtime.get("/health/live").status_code == 200


def test_secrets_in_a_plugins_error_text_are_masked(serve: Serve, plugins_dir: Path) -> None:
    with serve(config(plugins_dir), environ=ENV) as runtime:
        body = assert_problem(runtime.get(f"/queries/{query_id('leaky')}"), 502, "backend-error")
        assert body["detail"] == "the backend refused key ***"
        health = runtime.get("/plugins/flaky/health").json()
        assert health["last_error_message"] == "the backend refused key ***"


def test_hanging_query_is_504_after_the_timeout(serve: Serve, plugins_dir: Path) -> None:
    with serve(config(plugins_dir), environ=ENV) as runtime:
        started = time.monotonic()
        body = assert_problem(runtime.get(f"/queries/{query_id('hang')}"), 504, "backend-timeout")
        assert 0.45 < time.monotonic() - started < 3
        assert "did not finish within 0.5s" in body["detail"]


def test_breaker_opens_after_consecutive_failures_with_retry_after(serve: Serve, plugins_dir: Path) -> None:
    with serve(config(plugins_dir), environ=ENV) as runtime:
        for _ in range(3):
            assert_problem(runtime.get(f"/queries/{query_id('backend_down')}"), 502, "backend-error")
        response = runtime.get(f"/queries/{query_id('fine')}")  # the breaker guards the whole plugin
        body = assert_problem(response, 503, "plugin-unavailable")
        assert 55 <= int(response.headers["Retry-After"]) <= 60
        assert body["circuit"] == "open"
        health = runtime.get("/plugins/flaky/health")
        assert health.status_code == 503
        assert health.json()["status"] == "unhealthy" and health.json()["circuit"] == "open"
        assert health.json()["last_error_message"] == "the backend answered 500"
        # The other plugin does not care.
        assert runtime.get(f"/queries/{GOOD_QUERY}").status_code == 200
        assert 'plugin_runtime_circuit_state{plugin="flaky",state="open"} 1.0' in runtime.get("/metrics").text


def test_client_errors_do_not_trip_the_breaker(serve: Serve, plugins_dir: Path) -> None:
    with serve(config(plugins_dir), environ=ENV) as runtime:
        for _ in range(5):
            assert runtime.get(f"/queries/{query_id('fine')}", params={"$top": "x"}).status_code == 400
        assert runtime.get(f"/queries/{query_id('fine')}").status_code == 200
        assert runtime.get("/plugins/flaky/health").json()["circuit"] == "closed"


def test_plugin_health_document_is_the_specs(serve: Serve, plugins_dir: Path) -> None:
    with serve(config(plugins_dir), environ=ENV) as runtime:
        for _ in range(2):
            runtime.get(f"/queries/{GOOD_QUERY}")
        response = runtime.get("/plugins/good/health")
        assert response.status_code == 200
        doc = response.json()
        assert set(doc) == HEALTH_FIELDS
        assert doc | {"uptime": None} == {
            "status": "healthy",
            "plugin_id": "good",
            "version": "1.0.0",
            "uptime": None,
            "queries_executed": 2,
            "error_rate": 0.0,
            "last_error": None,
            "last_error_message": None,
            "circuit": "closed",
            "dependencies": [{"name": "memory", "status": "healthy", "response_time": "45ms"}],
        }
        assert doc["uptime"] == "0h0m"


def test_health_overview_reports_degraded_when_one_plugin_is_unhealthy(serve: Serve, plugins_dir: Path) -> None:
    with serve(config(plugins_dir), environ=ENV) as runtime:
        assert runtime.get("/health").json()["status"] == "healthy"
        for _ in range(3):
            runtime.get(f"/queries/{query_id('backend_down')}")
        response = runtime.get("/health")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "degraded"
        states = {p["plugin_id"]: (p["status"], p["state"]) for p in body["plugins"]}
        assert states == {"good": ("healthy", "Active"), "flaky": ("unhealthy", "Active")}
        assert runtime.get("/health/live").json() == {"status": "alive"}


def test_error_rate_above_half_the_threshold_degrades_a_plugin(serve: Serve, plugins_dir: Path) -> None:
    flaky = {"breaker": {"failure_threshold": 50, "error_rate_threshold": 0.5, "cooldown_seconds": 60}}
    with serve(config(plugins_dir, **flaky), environ=ENV) as runtime:
        runtime.get(f"/queries/{query_id('fine')}")
        runtime.get(f"/queries/{query_id('backend_down')}")
        doc = runtime.get("/plugins/flaky/health").json()
        assert (doc["status"], doc["error_rate"], doc["queries_executed"]) == ("degraded", 0.5, 2)
        assert doc["last_error"].endswith("Z")


def test_metadata_lists_plugins_queries_and_sources(serve: Serve, plugins_dir: Path) -> None:
    with serve(config(plugins_dir), environ=ENV) as runtime:
        body = runtime.get("/metadata").json()
        good = next(p for p in body["plugins"] if p["id"] == "good")
        assert good["version"] == "1.0.0" and good["state"] == "Active" and good["source"] == "plugins-dir:good"
        assert good["queries"][0]["id"] == GOOD_QUERY and good["queries"][0]["entity_set"] == "good_items"
        assert good["last_reload_error"] is None and body["errors"] == []


def test_csdl_metadata_describes_each_entity_set_with_capabilities(serve: Serve, plugins_dir: Path) -> None:
    with serve(config(plugins_dir), environ=ENV) as runtime:
        csdl = runtime.get("/$metadata", params={"$format": "json"}).json()
        assert csdl["$Version"] == "4.01"
        schema = csdl["HyperSpot.Analytics"]
        container = schema["Queries"]
        assert csdl["$EntityContainer"] == "HyperSpot.Analytics.Queries"
        good = container["good_items"]
        assert good["$Collection"] is True and good["$Type"] == "HyperSpot.Analytics.GoodItemsRow"
        assert good["@Org.OData.Capabilities.V1.TopSupported"] is True
        assert schema["GoodItemsRow"] == {
            "$Kind": "EntityType",
            "$OpenType": True,
            "$Key": ["n"],
            "n": {"$Type": "Edm.Int64"},
            "version": {"$Type": "Edm.String", "$Nullable": True},
        }
        # No capabilities(): an open type, and no capability claims.
        assert schema["BoomRow"] == {"$Kind": "EntityType", "$OpenType": True}
        assert not [key for key in container["boom"] if key.startswith("@Org.OData.Capabilities")]


def test_metrics_count_queries_by_status_and_expose_states(serve: Serve, plugins_dir: Path) -> None:
    with serve(config(plugins_dir), environ=ENV) as runtime:
        runtime.get(f"/queries/{GOOD_QUERY}")
        runtime.get(f"/queries/{GOOD_QUERY}", params={"$top": "bad"})
        response = runtime.get("/metrics")
        assert response.headers["content-type"].startswith("text/plain")
        text = response.text
        assert f'plugin_runtime_queries_total{{plugin="good",query="{GOOD_QUERY}",status="200"}} 1.0' in text
        assert f'plugin_runtime_queries_total{{plugin="good",query="{GOOD_QUERY}",status="400"}} 1.0' in text
        assert f'plugin_runtime_query_duration_seconds_count{{plugin="good",query="{GOOD_QUERY}"}} 2.0' in text
        assert 'plugin_runtime_plugin_state{plugin="good",state="Active"} 1.0' in text
        assert 'plugin_runtime_circuit_state{plugin="good",state="closed"} 1.0' in text
        assert 'plugin_runtime_reloads_total{outcome="success",plugin="good"} 1.0' in text
        # Prometheus's own linter accepts the exposition (promtool comes with the prometheus package).
        promtool = shutil.which("promtool")
        assert promtool, "promtool is required (apt-get install prometheus)"
        lint = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
        assert lint.returncode == 0, lint.stdout + lint.stderr


def test_admin_endpoints_need_the_admin_token(serve: Serve, plugins_dir: Path) -> None:
    with serve(config(plugins_dir), environ={}) as runtime:
        body = assert_problem(runtime.post("/admin/reload", headers=ADMIN_HEADERS), 403, "forbidden")
        assert body["detail"] == "admin endpoints are disabled: PLUGIN_RUNTIME_ADMIN_TOKEN is not set"
    with serve(config(plugins_dir), environ=ENV) as runtime:
        missing = runtime.post("/admin/plugins/good/disable")
        assert_problem(missing, 401, "unauthenticated")
        assert missing.headers["WWW-Authenticate"] == "Bearer"
        wrong = runtime.post("/admin/plugins/good/disable", headers={"Authorization": "Bearer admin-token-for-tests-"})
        assert_problem(wrong, 401, "unauthenticated")
        assert runtime.get(f"/queries/{GOOD_QUERY}").status_code == 200  # nothing was disabled
        assert runtime.post("/admin/plugins/good/disable", headers=ADMIN_HEADERS).json() == {
            "plugin_id": "good",
            "enabled": False,
            "state": "Inactive",
        }
        assert_problem(runtime.post("/admin/plugins/nope/enable", headers=ADMIN_HEADERS), 404, "not-found")


def test_disable_refuses_new_queries_while_in_flight_ones_finish(
    serve: Serve, plugins_dir: Path, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    with serve(config(plugins_dir, good={"settings": {"gate": str(gate)}}), environ=ENV) as runtime:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(httpx.get, f"{runtime.url}/queries/{GOOD_QUERY}", timeout=30)
            wait_for(Path(f"{gate}.entered").exists, what="the query to be running")
            assert runtime.post("/admin/plugins/good/disable", headers=ADMIN_HEADERS).status_code == 200
            refused = runtime.get(f"/queries/{GOOD_QUERY}")
            assert not in_flight.done()
            gate.touch()
            assert in_flight.result().status_code == 200
        body = assert_problem(refused, 503, "plugin-unavailable")
        assert body["detail"] == "plugin 'good' is disabled" and "Retry-After" in refused.headers
        overview = runtime.get("/health").json()
        assert {p["plugin_id"]: p["state"] for p in overview["plugins"]}["good"] == "Inactive"
        assert 'plugin_runtime_plugin_state{plugin="good",state="Inactive"} 1.0' in runtime.get("/metrics").text
        runtime.post("/admin/plugins/good/enable", headers=ADMIN_HEADERS)
        assert runtime.get(f"/queries/{GOOD_QUERY}").status_code == 200


def test_config_disabled_plugin_is_loaded_but_inactive(serve: Serve, plugins_dir: Path) -> None:
    with serve(config(plugins_dir, good={"enabled": False}), environ=ENV) as runtime:
        assert runtime.get(f"/queries/{GOOD_QUERY}").status_code == 503
        runtime.post("/admin/plugins/good/enable", headers=ADMIN_HEADERS)
        assert runtime.get(f"/queries/{GOOD_QUERY}").status_code == 200
