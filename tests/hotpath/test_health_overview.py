"""`/health` reads cached plugin views without suspending, and asks only the plugins whose view expired."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from plugin_runtime import host, interface
from plugin_runtime import instance as instance_module

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "plugins"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def hosted(tmp_path: Path) -> AsyncIterator[tuple[host.PluginHost, Clock, dict[str, int]]]:
    """The hello-world example, localsql and a plugin that fails to load, on a clock the test moves."""
    config = {
        "plugins_dir": str(EXAMPLES),
        "plugins": [
            {"id": "hello-world", "version": "1.0.0", "path": "hello-world"},
            {"id": "local", "version": "1.0.0", "adapter": "localsql"},
            {"id": "broken", "version": "1.0.0", "path": "no-such-folder"},
        ],
    }
    (tmp_path / "runtime.yaml").write_text(yaml.safe_dump(config))
    clock = Clock()
    plugin_host = host.PluginHost(config_path=tmp_path / "runtime.yaml", clock=clock)
    await plugin_host.start()
    asked = {"hello-world": 0, "local": 0}
    for plugin_id in asked:
        instance = plugin_host.slot(plugin_id).instance
        assert instance is not None
        real = instance.plugin.health_check

        def counted(plugin_id: str = plugin_id, real: Any = real) -> interface.HealthStatus:
            asked[plugin_id] += 1
            return real()

        instance.plugin.health_check = counted  # type: ignore[method-assign]
    yield plugin_host, clock, asked
    await plugin_host.close()


def _run_without_suspending(coroutine: Any) -> Any:
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise AssertionError("the coroutine suspended")


async def test_expired_views_are_asked_once_then_served_from_cache_without_suspending(hosted: Any) -> None:
    plugin_host, clock, asked = hosted
    first = await plugin_host.health_overview()
    assert asked == {"hello-world": 1, "local": 1}
    clock.now += 1.0
    cached = _run_without_suspending(plugin_host.health_overview())
    assert asked == {"hello-world": 1, "local": 1}
    assert cached["status"] == first["status"] == "degraded"  # one plugin failed to load
    assert {p["plugin_id"]: p["status"] for p in cached["plugins"]} == {
        "hello-world": "healthy",
        "local": "healthy",
        "broken": "unhealthy",
    }


async def test_only_the_plugin_whose_view_expired_is_asked(hosted: Any) -> None:
    plugin_host, clock, asked = hosted
    await plugin_host.health_overview()
    clock.now += 1.5
    await plugin_host.health_document(plugin_host.slot("local"))  # no probe: "local" is still fresh
    clock.now += 1.0  # both expired now
    await plugin_host.slot("local").instance.health_status()
    assert asked == {"hello-world": 1, "local": 2}
    await plugin_host.health_overview()  # shows hello-world's expired view, refreshes it in the background
    await plugin_host.slot("hello-world").instance.health_status()  # waits for that refresh
    assert asked == {"hello-world": 2, "local": 2}


async def test_an_expired_view_is_shown_while_it_is_refreshed_and_a_too_old_one_is_waited_for(hosted: Any) -> None:
    plugin_host, clock, _ = hosted
    await plugin_host.health_overview()
    local = plugin_host.slot("local").instance
    healthy = local.plugin.health_check
    local.plugin.health_check = lambda: interface.HealthStatus(interface.HealthState.UNHEALTHY, message="db gone")
    clock.now += instance_module.HEALTH_CACHE_SECONDS
    shown = _run_without_suspending(plugin_host.health_overview())  # expired: shown, never waited for
    assert {p["plugin_id"]: p["status"] for p in shown["plugins"]}["local"] == "healthy"
    assert (await local.health_status()).status == interface.HealthState.UNHEALTHY  # the background refresh
    after = await plugin_host.health_overview()
    assert {p["plugin_id"]: p["status"] for p in after["plugins"]}["local"] == "unhealthy"
    local.plugin.health_check = healthy
    clock.now += instance_module.HEALTH_STALE_SECONDS  # too old to show: the overview waits for a new view
    again = await plugin_host.health_overview()
    assert {p["plugin_id"]: p["status"] for p in again["plugins"]}["local"] == "healthy"


async def test_overview_entries_are_the_per_plugin_documents(hosted: Any) -> None:
    plugin_host, _, _ = hosted
    overview = await plugin_host.health_overview()
    for entry in overview["plugins"]:
        slot = plugin_host.slot(entry["plugin_id"])
        document = await plugin_host.health_document(slot)
        assert {k: v for k, v in entry.items() if k not in ("state", "last_reload_error")} == document
    states = {p["plugin_id"]: (p["state"], p["last_reload_error"]) for p in overview["plugins"]}
    assert states["hello-world"] == states["local"] == ("Active", None)
    assert states["broken"][0] == "Failed"
    assert states["broken"][1]["plugin_id"] == "broken"


async def test_a_health_check_slower_than_the_bound_is_not_waited_for(hosted: Any, monkeypatch: Any) -> None:
    plugin_host, clock, _ = hosted
    monkeypatch.setattr(instance_module, "HEALTH_OVERVIEW_WAIT_SECONDS", 0.05)
    local = plugin_host.slot("local").instance
    release = threading.Event()

    def slow() -> interface.HealthStatus:
        release.wait(30)
        return interface.HealthStatus(interface.HealthState.UNHEALTHY, message="db gone")

    healthy = local.plugin.health_check
    local.plugin.health_check = slow
    try:
        first = await plugin_host.health_overview()  # no view of "local" yet, and its check hangs
    finally:
        release.set()
    statuses = {p["plugin_id"]: p["status"] for p in first["plugins"]}
    assert statuses["local"] == "unknown"
    assert statuses["hello-world"] == "healthy"  # the others are waited for as before
    assert (await local.health_status()).status == interface.HealthState.UNHEALTHY  # it went on in the background
    after = await plugin_host.health_overview()
    assert {p["plugin_id"]: p["status"] for p in after["plugins"]}["local"] == "unhealthy"

    release.clear()
    local.plugin.health_check = healthy
    clock.now += instance_module.HEALTH_STALE_SECONDS
    assert (await local.health_status()).status == interface.HealthState.HEALTHY
    clock.now += instance_module.HEALTH_STALE_SECONDS  # too old to show without asking, and the check hangs again
    local.plugin.health_check = slow
    try:
        again = await plugin_host.health_overview()
    finally:
        release.set()
    assert {p["plugin_id"]: p["status"] for p in again["plugins"]}["local"] == "healthy"  # the last view
