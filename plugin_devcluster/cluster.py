"""Running the emulated API server on a loopback port: in the caller's event loop, or in a thread.

`plugin-operator dev` and the tests run the cluster in a background thread with its own event loop
(`DevCluster.start_in_thread()`): kopf and the kubernetes client then talk to it over real HTTP
exactly as to a remote cluster, and sharing no loop with kopf avoids kopf's 5-second shutdown wait.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp.web

from plugin_devcluster import apiserver, catalogue, kubeconfig, rbac
from plugin_devcluster.containers import ContainerRuntime
from plugin_devcluster.controllers import Controllers
from plugin_devcluster.kubelet import Kubelet, KubeletConfig
from plugin_devcluster.persistence import Persistence
from plugin_devcluster.sandbox import SandboxRuntime
from plugin_devcluster.serviceproxy import ServiceProxy
from plugin_operator import crd

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
#: How long a stopping cluster waits for requests in flight (watches are ended first).
SHUTDOWN_TIMEOUT = 2.0
#: How long a stopping cluster waits for its pods to stop (their grace periods, then SIGKILL).
POD_STOP_TIMEOUT = 60.0


def _as_applied(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The object with the annotation `kubectl apply` leaves, so re-applying its file is a clean update."""
    meta = dict(obj.get("metadata", {}))
    annotations = {**meta.get("annotations", {}), LAST_APPLIED: json.dumps(obj, separators=(",", ":"))}
    return {**obj, "metadata": {**meta, "annotations": annotations}}


class DevCluster:
    """An in-memory Kubernetes API serving the operator's kinds, with the Plugin CRD installed.

    The CRDs (by default `plugin_operator.crd.crd()`) are installed as if by `kubectl apply`, and
    the `namespaces` exist; anything else is created through the API (kubectl, kopf, clients).

    Use `async with DevCluster() as cluster:` inside an event loop, or
    `cluster = DevCluster.start_in_thread()` ... `cluster.stop()` (or `with`) from synchronous code.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        namespaces: Iterable[str] = ("default",),
        crds: Iterable[Mapping[str, Any]] | None = None,
        clock: Callable[[], datetime.datetime] | None = None,
        authorizer: rbac.Authorizer | None = None,
        kubelet: KubeletConfig | None = None,
        runtime: ContainerRuntime | None = None,
        state_file: Path | None = None,
        proxy_port: int | None = None,
    ) -> None:
        """`kubelet` set: also run the controllers, the kubelet (on `runtime`, default `SandboxRuntime`)
        and the Service proxy (`proxy_url`, on `proxy_port`, default any free one). `state_file` set: keep
        the objects there across restarts."""
        options: dict[str, Any] = {"authorizer": authorizer}
        if clock is not None:
            options["clock"] = clock
        self.emulator = apiserver.Emulator(**options)
        self.host = host
        self.port = port or 0
        self._namespaces = list(namespaces)
        self._crds = [crd.crd()] if crds is None else [dict(c) for c in crds]
        self._runner: aiohttp.web.ServerRunner | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None
        self._kubelet_config, self._runtime = kubelet, runtime
        self._proxy_port = proxy_port or 0
        self.kubelet: Kubelet | None = None
        self.proxy: ServiceProxy | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._persistence = Persistence(self.emulator, state_file) if state_file is not None else None

    @property
    def proxy_url(self) -> str:
        """The Service proxy (`serviceproxy`), when the cluster runs pods."""
        if self.proxy is None:
            raise RuntimeError("the dev cluster runs no pods (no kubelet configured)")
        return self.proxy.url

    @property
    def url(self) -> str:
        if self._runner is None:
            raise RuntimeError("the dev cluster is not running")
        return f"http://{self.host}:{self.port}"

    def write_kubeconfig(self, path: Path | str) -> Path:
        return kubeconfig.write_kubeconfig(self.url, path)

    # In the caller's event loop --------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.emulator.__aenter__()
        restored = self._persistence.load() if self._persistence is not None else 0
        if not restored:
            for definition in self._crds:
                await self.emulator.create(catalogue.CRDS, _as_applied(definition))
            for namespace in self._namespaces:
                await self.emulator.create(catalogue.NAMESPACES, {"metadata": {"name": namespace}})
        if self._persistence is not None:
            self.emulator.on_change = self._persistence.changed
        if self._kubelet_config is not None:
            await self._start_workloads(self._kubelet_config)
        runner = aiohttp.web.ServerRunner(
            aiohttp.web.Server(self.emulator, handler_cancellation=True), shutdown_timeout=SHUTDOWN_TIMEOUT
        )
        await runner.setup()
        site = aiohttp.web.TCPSite(runner, self.host, self.port)
        await site.start()
        self.port = runner.addresses[0][1]
        self._runner = runner
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self.proxy is not None:
            await self.proxy.stop()
        if self._persistence is not None:
            self._persistence.flush()
        await self.emulator.close_watches()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.emulator.__aexit__(exc_type, exc, tb)

    async def _start_workloads(self, config: KubeletConfig) -> None:
        if self._runtime is None:
            self._runtime = SandboxRuntime()
        self.kubelet = Kubelet(self.emulator, self._runtime, config)
        self.emulator.pod_logs = self.kubelet
        self.proxy = ServiceProxy(self.emulator, self.kubelet.endpoints)
        await self.proxy.start(self._proxy_port)
        self._tasks = [
            asyncio.create_task(Controllers(self.emulator).run(), name="devcluster controllers"),
            asyncio.create_task(self.kubelet.run(), name="devcluster kubelet"),
        ]

    # In a background thread ------------------------------------------------------------------------

    @classmethod
    def start_in_thread(cls, port: int | None = None, **kwargs: Any) -> DevCluster:
        """Start serving from a daemon thread with its own event loop; returns once the port listens."""
        cluster = cls(port=port, **kwargs)
        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        cluster._thread = threading.Thread(
            target=cluster._serve_forever, args=(started,), name="devcluster", daemon=True
        )
        cluster._thread.start()
        started.result()
        return cluster

    def _serve_forever(self, started: concurrent.futures.Future[None]) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop_requested = asyncio.Event()
            try:
                await self.__aenter__()
            except BaseException as exc:
                started.set_exception(exc)
                return
            started.set_result(None)
            try:
                await self._stop_requested.wait()
            finally:
                await self.__aexit__(None, None, None)

        asyncio.run(serve())

    def stop(self) -> None:
        """Stop a cluster started with `start_in_thread` (watches end, then the port closes); idempotent."""
        if self._thread is None or self._loop is None or self._stop_requested is None:
            raise RuntimeError("the dev cluster was not started with start_in_thread()")
        if not self._thread.is_alive():
            return
        self._loop.call_soon_threadsafe(self._stop_requested.set)
        # Running pods stop first, each within its termination grace period (in parallel).
        self._thread.join(timeout=SHUTDOWN_TIMEOUT + 5 + (POD_STOP_TIMEOUT if self.kubelet is not None else 0))

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
