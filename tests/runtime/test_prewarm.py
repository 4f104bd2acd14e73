"""A runtime imports its plugins' adapters as a step of its start, before it loads them; a plugin's
logged load + init (`duration_ms`, what bench.cold_load reports) is then that plugin's own work."""

from __future__ import annotations

import logging

import pytest

from .conftest import Serve
from .test_localsql import localsql


def test_the_adapter_is_preloaded_before_its_plugin_loads_and_the_load_is_timed(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO), serve(localsql()) as runtime:
        assert runtime.get("/health").status_code == 200
    events = [(r.message, getattr(r, "adapter", None) or getattr(r, "plugin_id", None)) for r in caplog.records]
    preloaded, loaded = events.index(("adapter preloaded", "localsql")), events.index(("plugin loaded", "local"))
    assert preloaded < loaded
    (record,) = [r for r in caplog.records if r.message == "plugin loaded"]
    assert isinstance(record.duration_ms, float) and record.duration_ms > 0  # type: ignore[attr-defined]
