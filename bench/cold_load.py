"""Cold load + init of one built-in adapter plugin in a fresh runtime process, as the runtime image has it.

For each adapter a fresh interpreter imports what a `plugin-runtime` process has imported before it
loads any plugin (`plugin_runtime.cli`), then times `discovery.declare` + `fingerprint` + `loader.load` of one
plugin using the adapter: importing the adapter's modules, checking its interface, and `init`
(localsql creates and fills its in-memory table there). The probe sees only the packages the
runtime image installs (the base dependencies of pyproject.toml): the development tools in the venv
are hidden from it, because some libraries import more when they are present (httpx imports its
command line, and with it rich and pygments, when they are installed). Each adapter is measured
ROUNDS times, each in a new interpreter with compiled bytecode (the image compiles it at build
time; one uncounted run writes it here); the figure is the median. Target: < 100 ms each.

Also printed: the floor, the time to import only the libraries the adapter cannot work without
(SQLAlchemy for localsql; httpx, tenacity and promql-parser for Prometheus), measured the same way.
`python -X importtime` on the probe shows where the rest goes. Run with `python -m bench.cold_load`.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ADAPTERS = ("localsql", "prometheus")
ROUNDS = 5
TARGET_MS = 100.0

# Runs in a fresh interpreter. Hides every installed distribution the runtime image would not have.
_PROBE = r"""
import importlib.abc, importlib.metadata as md, json, sys, time
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
import plugin_runtime.cli  # what a runtime process has imported before it loads a plugin
from plugin_runtime import config, discovery, loader

runtime_config = config.RuntimeConfig.model_validate(json.loads(sys.argv[1]))
before = set(sys.modules)
started = time.perf_counter()
if sys.argv[2:]:  # the floor: only the libraries the adapter cannot work without
    for name in sys.argv[2:]:
        __import__(name)
    print(json.dumps({"ms": (time.perf_counter() - started) * 1000, "modules": len(set(sys.modules) - before)}))
    sys.exit(0)
(declaration,), rejected = discovery.declare(runtime_config, plugins_dir=None)
assert not rejected, rejected
digest = discovery.fingerprint(declaration, environ={})
loaded = loader.load(declaration, environ={}, digest=digest)
elapsed = (time.perf_counter() - started) * 1000
loaded.instance.shutdown()
print(json.dumps({"ms": elapsed, "modules": len(set(sys.modules) - before)}))
"""

_QUERY = {
    "id": "gts.hypernetix.hyperspot.ax.query.v1~hyperspot.bench._.cold.v1",
    "name": "Cold",
    "category": "bench",
    "api_endpoint": "/bench/cold",
    "capabilities_id": "gts.hypernetix.hyperspot.ax.query_capabilities.v1~hyperspot.bench._.default.v1",
    "returns_schema_id": "gts.hypernetix.hyperspot.ax.schema.v1~hyperspot.bench._.cold.v1~",
}
_SETTINGS = {"localsql": {}, "prometheus": {"base_url": "http://127.0.0.1:9"}}
#: The libraries each adapter cannot load without: importing them alone is the floor of its cold load.
FLOOR = {"localsql": ("sqlalchemy",), "prometheus": ("httpx", "tenacity", "promql_parser")}


def runtime_config(adapter: str) -> dict[str, object]:
    plugin = {"id": f"cold-{adapter}", "version": "1.0.0", "adapter": adapter, "settings": _SETTINGS[adapter]}
    return {"watch_interval_seconds": None, "plugins": [plugin | {"queries": [_QUERY]}]}


def probe(adapter: str, pycache: str, *floor: str) -> dict[str, float]:
    # The image compiles its bytecode at build time: so may the probe (into a private cache, not the repo).
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(runtime_config(adapter)), *floor],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
        env={**environ, "PYTHONPYCACHEPREFIX": pycache},
    )
    if done.returncode != 0:
        raise RuntimeError(f"the {adapter} probe failed: {done.stderr.strip()[-600:]}")
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def run(*, rounds: int = ROUNDS) -> list[str]:
    cold: dict[str, float] = {}
    floor: dict[str, float] = {}
    modules: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as pycache:
        for adapter in ADAPTERS:
            probe(adapter, pycache)  # writes the bytecode; not counted
            samples = [probe(adapter, pycache) for _ in range(rounds)]
            cold[adapter] = statistics.median(s["ms"] for s in samples)
            modules[adapter] = int(samples[-1]["modules"])
            floor[adapter] = statistics.median(probe(adapter, pycache, *FLOOR[adapter])["ms"] for _ in range(rounds))
    figures = ", ".join(f"{cold[a]:.0f} ms ({a})" for a in ADAPTERS)
    imported = ", ".join(f"{modules[a]} ({a})" for a in ADAPTERS)
    floors = ", ".join(f"{floor[a]:.0f} ms ({a}: {' + '.join(FLOOR[a])})" for a in ADAPTERS)
    return [
        f"plugin load+init cold: {figures}; target < {TARGET_MS:g} ms each",
        f"  floor (importing only the libraries each adapter needs, same conditions): {floors}",
        f"  how: median of {rounds} fresh interpreters each, after importing plugin_runtime.cli, with the runtime "
        f"image's packages only; modules the load imported: {imported}",
    ]


if __name__ == "__main__":
    print("\n".join(run()))
