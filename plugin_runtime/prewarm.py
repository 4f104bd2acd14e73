"""Import the adapters a runtime's config names when it starts, apart from loading its plugins.

Importing an adapter is most of a plugin's first load in a process: SQLAlchemy alone is ~100 to 200 ms
of localsql's, httpx and promql-parser most of Prometheus'. A runtime pays that once per process
whatever it does; it can only choose *when*. It imports the entry-point modules of the built-in
adapters its plugins use at start, before the server accepts connections (where loading the
configured plugins already happens), as one step of its own, so that:

- a plugin's load + init (logged as `duration_ms` of "plugin loaded") is that plugin's own work, in
  a dedicated runtime as in a shared one, and a plugin added later — a shared runtime's new member
  (one adapter per pool), a config reload, a new version — never waits for imports;
- the import time is logged ("adapter preloaded", per adapter) and is part of the runtime's start, which
  `bench.cold_load` reports beside the plugin's load + init, with the runtime's memory.

Only adapters the config names are imported: a runtime hosting none of a library's adapters never
pays for it (elasticsearch-dsl alone would add ~0.4 to 0.7 s and its memory to every runtime).
An adapter that cannot be imported is logged and skipped: loading its plugin reports the error
where it belongs (that plugin's load error), and the runtime still serves its other plugins.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import time
from collections.abc import Iterable

from plugin_runtime import config, loader

__all__ = ["adapters", "import_adapters"]

log = logging.getLogger(__name__)


def adapters(runtime_config: config.RuntimeConfig) -> tuple[str, ...]:
    """The adapters the config's plugins use, each once, in order."""
    return tuple(dict.fromkeys(p.adapter for p in runtime_config.plugins if p.adapter))


def import_adapters(names: Iterable[str]) -> dict[str, float]:
    """Import each adapter's entry-point module; milliseconds per adapter imported (skips are logged)."""
    took: dict[str, float] = {}
    for name in names:
        matches = importlib.metadata.entry_points(group=loader.ENTRY_POINT_GROUP, name=name)
        if not matches:
            log.warning("adapter not preloaded: no such entry point", extra={"adapter": name})
            continue
        started = time.perf_counter()
        try:
            importlib.import_module(next(iter(matches)).module)
        except Exception as exc:  # its plugins' loads report it; the runtime still serves the others
            log.warning("adapter not preloaded", extra={"adapter": name, "reason": f"{type(exc).__name__}: {exc}"})
            continue
        took[name] = round((time.perf_counter() - started) * 1000, 1)
        log.info("adapter preloaded", extra={"adapter": name, "duration_ms": took[name]})
    return took
