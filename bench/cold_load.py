"""Cold load + init of a built-in adapter plugin in a running runtime process, and that process's start.

What a user waits for when a plugin is loaded into a runtime is two different things, measured apart:

1. `plugin load+init cold` (target < 100 ms each): a plugin that was never loaded in the process is
   added to a runtime that is up (a shared runtime's new member, a config reload, a new version):
   `loader.load` — importing and checking its factory, building the instance, `init` (localsql
   creates and fills its in-memory table there; Prometheus builds its client). The runtime measures
   it itself and logs it as `duration_ms` of "plugin loaded"; the bench reads that line. The runtime
   imported the adapter's modules when it started, because its config names the adapter
   (`plugin_runtime.prewarm`), so this is the plugin's own work and no import. Measured for the first
   plugin of the adapter (loaded at start, right after the imports: the target figure) and for a
   second one added by SIGHUP, with the time from the signal until the added plugin's query first
   answers (what a user adding a plugin to a running runtime waits for: reading the config, the
   load, the runtime's heap freeze after every change — a full collection — and the answer, here
   the query's translation preview, which needs no backend: the bench's backend is a closed port).
2. `runtime start` (no target; the floor of a dedicated runtime): from spawning `plugin-runtime` to
   its first 200 on `/health/live` (the server answers only once its configured plugins are loaded),
   bare (no plugin) and with one plugin of the adapter: the interpreter, the runtime's imports, the
   adapter's imports and the first plugin's load. A dedicated runtime's first answer waits for all of
   it; the imports are paid there once per process whatever the runtime does. RSS after step 1.

Each round is a fresh runtime process (one plugin configured, then SIGHUP with a second plugin of
the same adapter added: another id, never loaded); the figure is the median of ROUNDS rounds. The
process sees only the packages the runtime image installs (the base dependencies of pyproject.toml):
the development tools in the venv are hidden, because some libraries import more when they are
present (httpx imports its command line, and with it rich and pygments, when they are installed). It
runs with compiled bytecode in a private cache, as the image compiles it at build time (one uncounted
round writes it). Run with `python -m bench.cold_load`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench import runtime_process
from devservices import processes

REPO = Path(__file__).resolve().parents[1]
ADAPTERS = ("localsql", "prometheus")
ROUNDS = 5
TARGET_MS = 100.0
_WAIT_SECONDS = 60.0

# The runtime's command line, in an interpreter that hides every installed distribution the runtime
# image would not have.
_RUNTIME = r"""
import importlib.abc, importlib.metadata as md, sys
from packaging.requirements import Requirement

def reach(name, extras, seen):
    try:
        dist = md.distribution(name)
    except md.PackageNotFoundError:
        return
    key = dist.metadata["Name"].lower().replace("_", "-")
    if (key, extras) in seen:
        return
    seen.add((key, extras))
    for text in dist.requires or []:
        req = Requirement(text)
        if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in (extras or ("",))):
            reach(req.name, tuple(sorted(req.extras)), seen)

seen = set()
reach("hyperspot-analytics-plugins", (), seen)
image = {key for key, _ in seen}
hidden = {
    module for module, dists in md.packages_distributions().items()
    if not any(d.lower().replace("_", "-") in image for d in dists)
}

class NotInImage(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in hidden:
            raise ModuleNotFoundError(f"{name} is not installed in the runtime image", name=name)
        return None

sys.meta_path.insert(0, NotInImage())
from plugin_runtime import cli
sys.exit(cli.main(sys.argv[1:]))
"""

_SETTINGS = {"localsql": {}, "prometheus": {"base_url": "http://127.0.0.1:9"}}


def _plugin(adapter: str, number: int) -> dict[str, Any]:
    query = {
        "id": f"gts.hypernetix.hyperspot.ax.query.v1~hyperspot.bench._.cold{number}.v1",
        "name": f"Cold {number}",
        "category": "bench",
        "api_endpoint": f"/bench/cold-{number}",
        "capabilities_id": "gts.hypernetix.hyperspot.ax.query_capabilities.v1~hyperspot.bench._.default.v1",
        "returns_schema_id": f"gts.hypernetix.hyperspot.ax.schema.v1~hyperspot.bench._.cold{number}.v1~",
    }
    plugin_id = f"cold-{adapter}-{number}"
    return {"id": plugin_id, "version": "1.0.0", "adapter": adapter, "settings": _SETTINGS[adapter], "queries": [query]}


def runtime_config(adapter: str | None, plugins: int) -> dict[str, Any]:
    chosen = [_plugin(adapter, n) for n in range(1, plugins + 1)] if adapter else []
    return {"watch_interval_seconds": None, "plugins": chosen}


def _poll_ms(
    url: str, done: Callable[[int], bool], process: subprocess.Popen[bytes], log: Path, *, since: float
) -> float:
    """Milliseconds from `since` until a GET of `url` answers a status `done` accepts, polled every 5 ms
    (the waits measured are 10 ms to 1 s; a poll is a fraction of a millisecond of the runtime's CPU)."""
    started = since
    with httpx.Client(timeout=5.0) as client:
        while True:
            with contextlib.suppress(httpx.TransportError):
                if done(client.get(url).status_code):
                    return (time.perf_counter() - started) * 1000
            if process.poll() is not None or time.perf_counter() - started > _WAIT_SECONDS:
                raise RuntimeError(f"{url} never answered as expected: {log.read_text()[-800:]}")
            time.sleep(0.005)


@contextlib.contextmanager
def _runtime(
    directory: Path, config: dict[str, Any], pycache: str
) -> Iterator[tuple[subprocess.Popen[bytes], str, float]]:
    """A spawned runtime, its URL and when it was spawned (`time.perf_counter`)."""
    path, log = directory / "runtime.yaml", directory / "runtime.log"
    path.write_text(yaml.safe_dump(config))
    port = runtime_process.free_port()
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    command = [sys.executable, "-c", _RUNTIME, "--config", str(path), "--port", str(port), "--log-level", "info"]
    with open(log, "wb") as output:
        spawned = time.perf_counter()
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, cwd=REPO, env={**environ, "PYTHONPYCACHEPREFIX": pycache}
        )
    try:
        yield process, f"http://127.0.0.1:{port}", spawned
    finally:
        processes.stop(process, timeout=15)


def _logged(log: Path, message: str, process: subprocess.Popen[bytes], **fields: str) -> float:
    """The `duration_ms` of the runtime's first log line with `message` and `fields`: its own figure."""
    deadline = time.monotonic() + _WAIT_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        for line in log.read_text().splitlines():
            entry = json.loads(line) if line.startswith("{") else {}
            if any(entry.get(key) != value for key, value in fields.items()):
                continue
            if entry.get("message") == message:
                return float(entry["duration_ms"])
            if entry.get("message") == "plugin load failed":
                raise RuntimeError(f"{fields} failed to load: {entry.get('reason')}")
        time.sleep(0.02)
    raise RuntimeError(f"no {message!r} with {fields}: {log.read_text()[-800:]}")


def _rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return kib / 1024


def one_round(adapter: str | None, pycache: str) -> dict[str, float]:
    """Start a runtime (one plugin of `adapter`, or none), then add a second plugin and read its load."""
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as name:
        directory = Path(name)
        log = directory / "runtime.log"
        with _runtime(directory, runtime_config(adapter, 1), pycache) as (process, url, spawned):
            # The server answers only once its configured plugins are loaded (the lifespan loads them).
            figures = {
                "start_ms": _poll_ms(f"{url}/health/live", lambda status: status == 200, process, log, since=spawned)
            }
            if adapter is not None:
                figures["import_ms"] = _logged(log, "adapter preloaded", process, adapter=adapter)
                figures["first_ms"] = _logged(log, "plugin loaded", process, plugin_id=f"cold-{adapter}-1")
                (directory / "runtime.yaml").write_text(yaml.safe_dump(runtime_config(adapter, 2)))
                signalled = time.perf_counter()
                process.send_signal(signal.SIGHUP)  # re-reads the config: the second plugin is new
                # Routed once the reload is applied: 404 until then. The translation preview answers
                # without the backend (here a closed port: the query would time its retries).
                preview = f"{url}/queries/{_plugin(adapter, 2)['queries'][0]['id']}/translate"
                answering = _poll_ms(preview, lambda code: code != 404, process, log, since=signalled)
                figures["answering_ms"] = answering
                figures["added_ms"] = _logged(log, "plugin loaded", process, plugin_id=f"cold-{adapter}-2")
            figures["rss_mib"] = _rss_mib(process.pid)
    return figures


def run(*, rounds: int = ROUNDS) -> list[str]:
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as pycache:
        for adapter in (None, *ADAPTERS):
            one_round(adapter, pycache)  # writes the bytecode; not counted
            samples = [one_round(adapter, pycache) for _ in range(rounds)]
            figures[adapter or "bare"] = {key: statistics.median(s[key] for s in samples) for key in samples[0]}

    def each(key: str, unit: str, labels: tuple[str, ...] = ADAPTERS) -> str:
        return ", ".join(f"{figures[label][key]:.0f} {unit} ({label})" for label in labels)

    return [
        f"plugin load+init cold: {each('first_ms', 'ms')}; target < {TARGET_MS:g} ms each",
        f"  a plugin added to a running runtime of the adapter (SIGHUP): {each('added_ms', 'ms')}; "
        f"SIGHUP to its first answer {each('answering_ms', 'ms')}",
        f"runtime start: {each('start_ms', 'ms', ('bare', *ADAPTERS))}; adapter imports at start "
        f"{each('import_ms', 'ms')}; RSS {each('rss_mib', 'MiB', ('bare', *ADAPTERS))}",
        f"  how: median of {rounds} fresh plugin-runtime processes each, the runtime image's packages only. Load+init "
        f"(the runtime's own figure, logged): the first plugin of the adapter, loaded at start after the runtime "
        f"imported the adapter's modules (plugin_runtime.prewarm); then a second one added by SIGHUP, and the time "
        f"from the signal to its query's first answer (config read, load, the heap freeze after every change, a "
        f"translation preview: no backend). Start: spawn to "
        f"the first 200 on /health/live, bare or with one plugin of the adapter (imports and its load included: what "
        f"a dedicated runtime's first answer waits for); RSS after the second load.",
    ]


if __name__ == "__main__":
    print("\n".join(run()))
