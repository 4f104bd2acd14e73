"""Cursor paging through a real runtime: a plugin that answers whole results is asked once per result,
the following pages come from the runtime's cursor store; cursors are bound to their caller, and a
cursor that is gone only costs a re-run, never a wrong or missing page."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import jwt
from prometheus_client.parser import text_string_to_metric_families

from plugin_runtime import config, cursors, paging

from .conftest import Serve
from .support import GOOD_QUERY, Runtime, plugin_entry
from .test_server import assert_problem

HMAC_KEY = "hmac-key-for-cursor-tests-0123456789"
ADMIN = "admin-token-for-cursor-tests"
ENV = {"JWT_KEY": HMAC_KEY, "PLUGIN_RUNTIME_ADMIN_TOKEN": ADMIN}


def token(subject: str = "alice", tenant: str = "acme") -> dict[str, str]:
    now = int(time.time())
    claims = {"sub": subject, "iss": "idp", "iat": now, "exp": now + 300, "roles": [config.EXECUTE_ROLE]}
    return {"Authorization": "Bearer " + jwt.encode({**claims, "tenant": tenant}, HMAC_KEY, algorithm="HS256")}


def runtime_config(plugins_dir: Path, *, whole_results: bool = True) -> dict[str, Any]:
    settings = {"page_size": 10, "whole_results": whole_results}
    return {
        "plugins_dir": str(plugins_dir),
        "watch_interval_seconds": None,
        "auth": {"mode": "jwt", "public_key_env": "JWT_KEY", "issuer": "idp"},
        "plugins": [plugin_entry("good", settings=settings)],
    }


def calls(runtime: Runtime) -> int:
    instance = runtime.host.slot("good").instance
    assert instance is not None
    count: int = instance.plugin.calls  # type: ignore[attr-defined]
    return count


def read_all(
    runtime: Runtime, params: dict[str, str], headers: dict[str, str]
) -> tuple[list[dict[str, Any]], list[str]]:
    body = runtime.get(f"/queries/{GOOD_QUERY}", params=params, headers=headers).json()
    rows, links = list(body["value"]), []
    while "@odata.nextLink" in body:
        links.append(body["@odata.nextLink"])
        response = runtime.client.get(links[-1], headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        rows += body["value"]
    return rows, links


def test_every_page_of_a_whole_result_plugin_comes_from_one_plugin_call(serve: Serve, plugins_dir: Path) -> None:
    with serve(runtime_config(plugins_dir), environ=ENV) as runtime:
        rows, links = read_all(runtime, {"$orderby": "n desc", "$count": "true"}, token())
        assert [row["n"] for row in rows] == list(range(24, -1, -1))
        assert len(links) == 2  # 10 + 10 + 5
        assert calls(runtime) == 1
        # The same pages as positional paging (a plugin that pages natively is asked per page).
    with serve(runtime_config(plugins_dir, whole_results=False), environ=ENV) as runtime:
        native, native_links = read_all(runtime, {"$orderby": "n desc", "$count": "true"}, token())
        assert native == rows and len(native_links) == 2
        assert calls(runtime) == 3


def test_without_a_page_size_a_whole_result_plugin_pages_at_10000_rows_and_others_at_1000(
    serve: Serve, plugins_dir: Path
) -> None:
    for whole, rows, pages in ((True, 12_000, 2), (False, 2_500, 3)):
        config = runtime_config(plugins_dir, whole_results=whole)
        config["plugins"][0]["settings"] = {"rows": rows, "whole_results": whole}  # no page_size
        with serve(config, environ=ENV) as runtime:
            read, links = read_all(runtime, {}, token())
            assert [row["n"] for row in read] == list(range(rows))
            assert len(links) == pages - 1
            first = runtime.get(f"/queries/{GOOD_QUERY}", headers=token()).json()["value"]
            assert len(first) == (paging.WHOLE_RESULT_PAGE_SIZE if whole else paging.DEFAULT_PAGE_SIZE)


def test_top_and_skip_still_bound_the_result_read_through_a_cursor(serve: Serve, plugins_dir: Path) -> None:
    with serve(runtime_config(plugins_dir), environ=ENV) as runtime:
        rows, links = read_all(runtime, {"$top": "15", "$skip": "3"}, token())
        assert [row["n"] for row in rows] == list(range(3, 18))
        assert len(links) == 1 and httpx.URL(links[0]).params["$top"] == "15"
        assert calls(runtime) == 1
        first = runtime.get(f"/queries/{GOOD_QUERY}", params={"$count": "true"}, headers=token()).json()
        second = runtime.client.get(first["@odata.nextLink"], headers=token()).json()
        assert first["@odata.count"] == second["@odata.count"] == 25


def test_another_callers_cursor_never_serves_the_stored_rows(serve: Serve, plugins_dir: Path) -> None:
    with serve(runtime_config(plugins_dir), environ=ENV) as runtime:
        body = runtime.get(f"/queries/{GOOD_QUERY}", headers=token("alice", "acme")).json()
        link = body["@odata.nextLink"]
        for other in (token("mallory", "acme"), token("alice", "globex")):
            page = runtime.client.get(link, headers=other)
            assert page.status_code == 200
            values = page.json()["value"]
            assert [row["n"] for row in values] == list(range(10, 20))
            # Computed afresh for the presenting caller, never alice@acme's stored rows.
            assert {(row["subject"], row["tenant"]) for row in values} != {("alice", "acme")}
        assert calls(runtime) == 3
        mine = runtime.client.get(link, headers=token("alice", "acme")).json()["value"]
        assert {(row["subject"], row["tenant"]) for row in mine} == {("alice", "acme")}
        assert calls(runtime) == 3  # the owner's read came from the store


def test_a_lost_cursor_re_runs_from_the_position_and_a_changed_request_is_refused(
    serve: Serve, plugins_dir: Path
) -> None:
    with serve(runtime_config(plugins_dir), environ=ENV) as runtime:
        body = runtime.get(f"/queries/{GOOD_QUERY}", params={"$orderby": "n desc"}, headers=token()).json()
        link = httpx.URL(body["@odata.nextLink"])
        runtime.host.cursors = cursors.CursorStore(max_entries=8, max_bytes=1 << 20, ttl_seconds=60)  # all gone
        page = runtime.client.get(link, headers=token()).json()
        assert [row["n"] for row in page["value"]] == list(range(14, 4, -1))
        assert calls(runtime) == 2
        rows, _ = read_all(runtime, {"$orderby": "n desc"}, token())
        assert len(rows) == 25
        # The token still binds the request's other options, cursor or not.
        changed = link.copy_set_param("$orderby", "n asc")
        assert_problem(runtime.client.get(changed, headers=token()), 400, "invalid-query")


def test_a_disabled_plugin_answers_nothing_from_its_stored_cursors(serve: Serve, plugins_dir: Path) -> None:
    with serve(runtime_config(plugins_dir), environ=ENV) as runtime:
        link = runtime.get(f"/queries/{GOOD_QUERY}", headers=token()).json()["@odata.nextLink"]
        admin = {"Authorization": f"Bearer {ADMIN}"}
        assert runtime.post("/admin/plugins/good/disable", headers=admin).status_code == 200
        assert_problem(runtime.client.get(link, headers=token()), 503, "plugin-unavailable")


def cursor_metrics(runtime: Runtime) -> dict[str, float]:
    """The cursor store's samples on /metrics, by name (and outcome)."""
    text = runtime.get("/metrics").text
    samples = (s for family in text_string_to_metric_families(text) for s in family.samples)
    return {
        s.name + (f"[{s.labels['outcome']}]" if "outcome" in s.labels else ""): s.value
        for s in samples
        if s.name.startswith("plugin_runtime_cursor_")
    }


def test_the_cursor_store_is_measured_on_metrics(serve: Serve, plugins_dir: Path) -> None:
    with serve(runtime_config(plugins_dir), environ=ENV) as runtime:
        assert cursor_metrics(runtime) == {
            "plugin_runtime_cursor_entries": 0.0,
            "plugin_runtime_cursor_bytes": 0.0,
            "plugin_runtime_cursor_pages_total[hit]": 0.0,
            "plugin_runtime_cursor_pages_total[miss]": 0.0,
            "plugin_runtime_cursor_pages_total[expired]": 0.0,
            "plugin_runtime_cursor_evictions_total": 0.0,
        }
        read_all(runtime, {}, token())  # 25 rows: the first page stores 15, two pages come from them
        link = runtime.get(f"/queries/{GOOD_QUERY}", headers=token()).json()["@odata.nextLink"]
        runtime.client.get(link, headers=token("mallory"))  # another caller's: a miss
        seen = cursor_metrics(runtime)
        # two first pages stored their tails, and so did the re-run for mallory
        assert seen["plugin_runtime_cursor_entries"] == 3.0 and seen["plugin_runtime_cursor_bytes"] > 0
        assert seen["plugin_runtime_cursor_pages_total[hit]"] == 2.0
        assert seen["plugin_runtime_cursor_pages_total[miss]"] == 1.0
        assert seen["plugin_runtime_cursor_pages_total[expired]"] == 0.0

        now = [0.0]
        runtime.host.cursors = cursors.CursorStore(
            max_entries=1, max_bytes=1 << 20, ttl_seconds=60, clock=lambda: now[0]
        )
        first = runtime.get(f"/queries/{GOOD_QUERY}", headers=token()).json()["@odata.nextLink"]
        runtime.get(f"/queries/{GOOD_QUERY}", params={"$orderby": "n desc"}, headers=token())  # evicts the first
        now[0] = 61.0
        second = runtime.get(f"/queries/{GOOD_QUERY}", params={"$top": "20"}, headers=token()).json()
        now[0] = 122.0
        assert runtime.client.get(second["@odata.nextLink"], headers=token()).status_code == 200  # expired
        assert runtime.client.get(first, headers=token()).status_code == 200  # evicted
        seen = cursor_metrics(runtime)
        assert seen["plugin_runtime_cursor_evictions_total"] == 2.0
        assert seen["plugin_runtime_cursor_pages_total[miss]"] == 2.0
        assert seen["plugin_runtime_cursor_pages_total[expired]"] == 1.0
        assert seen["plugin_runtime_cursor_pages_total[hit]"] == 0.0
