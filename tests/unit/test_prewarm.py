"""A runtime imports the adapters its config names when it starts (`plugin_runtime.prewarm`)."""

from __future__ import annotations

import importlib.metadata
import logging
import sys

import pytest

from plugin_runtime import config, loader, prewarm


def _config(*adapters: str | None) -> config.RuntimeConfig:
    plugins = [
        {"id": f"p{n}", "version": "1.0.0", **({"adapter": a} if a else {"path": f"p{n}"})}
        for n, a in enumerate(adapters)
    ]
    return config.RuntimeConfig.model_validate({"plugins": plugins})


def test_the_adapters_are_those_of_the_configured_plugins_each_once() -> None:
    assert prewarm.adapters(_config("prometheus", None, "localsql", "prometheus")) == ("prometheus", "localsql")
    assert prewarm.adapters(_config()) == ()


def _entry_points(monkeypatch: pytest.MonkeyPatch, **fake: str) -> None:
    """Entry points named in `fake` resolve to that module; the others are the installed ones."""
    real = importlib.metadata.entry_points

    def entry_points(*, group: str, name: str) -> importlib.metadata.EntryPoints:
        if name in fake:
            return importlib.metadata.EntryPoints([importlib.metadata.EntryPoint(name, fake[name], group)])
        return real(group=group, name=name)

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


def test_an_adapter_module_is_imported_and_timed(monkeypatch: pytest.MonkeyPatch) -> None:
    _entry_points(monkeypatch, small="colorsys:rgb_to_hsv")  # a stdlib module nothing else here imports
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    took = prewarm.import_adapters(["small", "localsql"])
    assert list(took) == ["small", "localsql"] and all(ms >= 0 for ms in took.values())
    assert "colorsys" in sys.modules
    (entry_point,) = importlib.metadata.entry_points(group=loader.ENTRY_POINT_GROUP, name="localsql")
    assert entry_point.module in sys.modules


def test_an_unknown_or_broken_adapter_is_logged_and_skipped(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _entry_points(monkeypatch, broken="no_such_module_for_prewarm:Plugin")
    with caplog.at_level(logging.INFO, logger="plugin_runtime.prewarm"):
        took = prewarm.import_adapters(["nope", "broken", "prometheus"])
    assert list(took) == ["prometheus"]
    skipped = {(r.message, getattr(r, "adapter", None)) for r in caplog.records if r.levelno == logging.WARNING}
    assert skipped == {("adapter not preloaded: no such entry point", "nope"), ("adapter not preloaded", "broken")}
    (reason,) = [r.reason for r in caplog.records if getattr(r, "adapter", None) == "broken"]
    assert reason.startswith("ModuleNotFoundError")
