"""Crash isolation: a plugin that raises, hangs or cannot initialise harms only its own queries."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

import httpx

from .conftest import Serve
from .support import GOOD_QUERY, plugin_entry, query_id, wait_for


def test_broken_plugins_beside_a_good_one(serve: Serve, plugins_dir: Path) -> None:
    config = {
        "plugins_dir": str(plugins_dir),
        "drain_seconds": 0.2,
        "plugins": [
            # A time limit long enough that "the good plugin answered while flaky hung" is decided by
            # ordering (the hung calls are still pending), not by a stopwatch on a loaded machine.
            plugin_entry("flaky", timeout_seconds=3.0, max_concurrent_queries=2),
            plugin_entry("init-fails"),
            plugin_entry("good"),
        ],
    }
    with serve(config) as runtime:
        states = {p["plugin_id"]: p["state"] for p in runtime.get("/health").json()["plugins"]}
        assert states == {"flaky": "Active", "init-fails": "Failed", "good": "Active"}

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            hanging = [
                pool.submit(httpx.get, f"{runtime.url}/queries/{query_id('hang')}", timeout=10) for _ in range(4)
            ]
            wait_for(
                lambda: 'plugin_runtime_in_flight_calls{plugin="flaky"} 2.0' in runtime.get("/metrics").text,
                what="both flaky slots to hang",
            )
            # While every flaky slot hangs, the good plugin answers, again and again.
            for _ in range(5):
                assert runtime.get(f"/queries/{GOOD_QUERY}").status_code == 200
            assert not any(future.done() for future in hanging), "good answers had to wait for flaky's time limit"
            statuses = sorted(future.result().status_code for future in hanging)
        # Two calls got the two slots and timed out; two found no free slot in time.
        assert statuses == [503, 503, 504, 504]
        # The hung threads still hold flaky's slots: flaky is saturated, nobody else is.
        busy = runtime.get(f"/queries/{query_id('fine')}")
        assert busy.status_code == 503 and "all 2 execution slots are taken" in busy.json()["detail"]
        assert 'plugin_runtime_in_flight_calls{plugin="flaky"} 2.0' in runtime.get("/metrics").text
        assert runtime.get(f"/queries/{query_id('boom')}").status_code == 503
        assert runtime.get(f"/queries/{GOOD_QUERY}").status_code == 200
        assert runtime.get("/health/live").status_code == 200


def test_raising_plugin_fails_only_its_own_queries(serve: Serve, plugins_dir: Path) -> None:
    config = {"plugins_dir": str(plugins_dir), "plugins": [plugin_entry("flaky"), plugin_entry("good")]}
    with serve(config) as runtime:
        for _ in range(3):
            assert runtime.get(f"/queries/{query_id('boom')}").status_code == 500
            assert runtime.get(f"/queries/{GOOD_QUERY}").status_code == 200
        good, flaky = (runtime.get(f"/plugins/{p}/health").json() for p in ("good", "flaky"))
        assert (good["queries_executed"], good["error_rate"]) == (3, 0.0)
        assert (flaky["queries_executed"], flaky["error_rate"]) == (3, 1.0)
