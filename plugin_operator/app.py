"""One operator process: kopf (in its own thread and event loop) beside the management API (uvicorn).

`OperatorProcess` is what `plugin-operator run`, `plugin-operator dev` and the end-to-end tests
start, so all three exercise the same wiring. kopf gets its own loop because it must not share one
with the API server (and, in dev mode, with the embedded Kubernetes API).

Every replica serves the API; kopf runs only in the replica that holds the leader Lease
(`plugin_operator.leadership`). A replica that loses the Lease, or whose kopf stops by itself,
records why in `failure`: the probes report it and `wait` returns, so the process exits and
Kubernetes restarts it as a standby.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import httpx
import kopf
import uvicorn

from plugin_operator import control_plane, db, handlers, keystore
from plugin_operator.api.app import create_app
from plugin_operator.api.deps import ApiDeps
from plugin_operator.drivers.base import Driver
from plugin_operator.drivers.kubernetes import KubernetesDriver
from plugin_operator.kube import Kube
from plugin_operator.leadership import Leadership, default_identity
from plugin_operator.reconciler import Reconciler
from plugin_operator.registry import Registry
from plugin_operator.runtime_client import ControlPlaneAuth, RuntimeClient
from plugin_operator.security import AuthSettings
from plugin_operator.settings import OperatorSettings

log = logging.getLogger(__name__)


class OperatorProcess:
    def __init__(
        self,
        settings: OperatorSettings,
        *,
        auth: AuthSettings,
        kubeconfig: str | None,
        serve_api: bool = True,
        fernet_keys: Sequence[str] | None = None,
        identity: str | None = None,
    ) -> None:
        """`fernet_keys` None reads `PLUGIN_OPERATOR_FERNET_KEYS`; passing them keeps them out of the
        process environment."""
        if settings.control_plane_key is None:
            key = control_plane.load_or_create(settings.state_dir / control_plane.KEY_FILE)
            settings = dataclasses.replace(settings, control_plane_key=key)
        assert settings.control_plane_key is not None
        self.settings = settings
        #: Signs the operator's and the API's own calls to runtimes (probes, smoke queries, /translate).
        self.runtime_auth = ControlPlaneAuth(control_plane.ControlPlaneKey(settings.control_plane_key))
        self.auth = auth
        self.kubeconfig = kubeconfig
        self.serve_api = serve_api
        self.fernet_keys = list(fernet_keys) if fernet_keys is not None else keystore.keys_from_env()
        self._kopf_stop = threading.Event()
        self._kopf_ready = threading.Event()
        self._kopf_thread: threading.Thread | None = None
        self._api_server: uvicorn.Server | None = None
        self._api_thread: threading.Thread | None = None
        self._api_port: int | None = None  # bound, once the API serves
        self._kopf_error: BaseException | None = None
        self._stopping = threading.Event()
        #: Why this process must end (kopf died, leadership lost); None while healthy.
        self.failure: str | None = None
        self.identity = identity or default_identity()
        self.leadership: Leadership | None = None
        self.database: db.Database | None = None
        self.kube: Kube | None = None
        self.keystore: keystore.Keystore | None = None

    # Lifecycle -----------------------------------------------------------------------------------

    def start(self, *, timeout: float = 30.0) -> None:
        """Connect, serve the API and join the leader election; returns once this replica knows its
        role: leading with kopf's watches running, or standing by behind a live leader."""
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        db.migrate(self.settings.database_url)
        self.database = db.connect(self.settings.database_url)
        self.keystore = _keystore(self.database, self.fernet_keys)
        self.kube = Kube.from_config(self.kubeconfig)
        if self.settings.leader_election:
            self.leadership = Leadership(
                self.kube,
                namespace=self.settings.lease_namespace,
                name=self.settings.lease_name,
                identity=self.identity,
                timing=self.settings.lease_timing,
                on_started=self._start_kopf,
                on_stopped=self._leadership_lost,
            )
            self.leadership.start()
            if not self.leadership.decided.wait(timeout):
                raise RuntimeError(
                    f"the leader election did not decide within {timeout:.0f}s: {self.leadership.last_error}"
                )
            if self.leadership.leading:
                self._wait_for_kopf(timeout)
        else:
            self._start_kopf()
            self._wait_for_kopf(timeout)
        if self.serve_api:
            self._start_api(timeout=timeout)

    def stop(self) -> None:
        """API first, then kopf, then the Lease: the Lease is released only once nothing reconciles."""
        if self._api_server is not None:
            self._api_server.should_exit = True
        if self._api_thread is not None:
            self._api_thread.join(10)
        self._kopf_stop.set()
        if self._kopf_thread is not None:
            self._kopf_thread.join(30)
        if self.leadership is not None:
            self.leadership.stop()
        if self.kube is not None:
            self.kube.close()
        if self.database is not None:
            self.database.dispose()

    def wait(self) -> None:
        """Block until the process must end: kopf stopped or leadership was lost (Ctrl-C is the caller's)."""
        while self.failure is None and not self._stopping.is_set():
            self._stopping.wait(0.5)
        if self.failure is not None:
            raise RuntimeError(f"the operator stopped: {self.failure}") from self._kopf_error

    def request_stop(self) -> None:
        """Make `wait` return (a signal handler's way out)."""
        self._stopping.set()

    # Probes --------------------------------------------------------------------------------------

    @property
    def leading(self) -> bool:
        return self.leadership.leading if self.leadership is not None else self._kopf_thread is not None

    def liveness_problem(self) -> str | None:
        """Why this process should be restarted: kopf died, or leadership was lost (None: alive)."""
        return self.failure

    def readiness_problem(self) -> str | None:
        """Why this replica should get no API traffic beyond what liveness says: a leader whose watches
        are not running yet (the database is checked by the API itself)."""
        if self.failure is not None:
            return self.failure
        if self.leading and not (
            self._kopf_ready.is_set() and self._kopf_thread is not None and self._kopf_thread.is_alive()
        ):
            return "the leader's watches are not running"
        return None

    def role(self) -> str:
        return "leader" if self.leading else "standby"

    @property
    def api_url(self) -> str:
        """Where the API listens: the port it bound once it serves (so `api_port` 0 reads as the real one)."""
        return f"http://{self.settings.api_host}:{self._api_port or self.settings.api_port}"

    # kopf ----------------------------------------------------------------------------------------

    def _start_kopf(self) -> None:
        self._kopf_thread = threading.Thread(target=self._run_kopf, name="kopf", daemon=True)
        self._kopf_thread.start()

    def _wait_for_kopf(self, timeout: float) -> None:
        if not self._kopf_ready.wait(timeout) or self._kopf_error is not None:
            raise RuntimeError(f"the operator did not become ready within {timeout:.0f}s: {self._kopf_error!r}")

    def _leadership_lost(self, reason: str) -> None:
        self.failure = f"leadership lost: {reason}"
        self._kopf_stop.set()

    def _driver(self, client: RuntimeClient) -> Driver:
        assert self.kube is not None
        return KubernetesDriver(kube=self.kube, client=client, pool_size=self.settings.pool_size)

    def _run_kopf(self) -> None:
        try:
            asyncio.run(self._kopf_main())
        except BaseException as exc:  # reported to start()/wait() and the probes, never silently lost
            self._kopf_error = exc
            self.failure = self.failure or f"reconciling stopped with an error: {type(exc).__name__}: {exc}"
            log.exception("operator stopped with an error")
            self._kopf_ready.set()
            return
        if not self._kopf_stop.is_set():  # kopf ended by itself (e.g. it could not log in)
            self.failure = self.failure or "reconciling stopped: kopf exited"

    async def _kopf_main(self) -> None:
        assert self.database is not None and self.kube is not None
        client = RuntimeClient(auth=self.runtime_auth, proxy=self.settings.runtime_proxy)
        reconciler = Reconciler(
            kube=self.kube,
            database=self.database,
            keys=self.keystore,
            driver=self._driver(client),
            client=client,
            settings=self.settings,
            emit=handlers.emit,
        )
        registry = handlers.build_registry(
            reconciler,
            health_interval=self.settings.health_interval,
            connection=self.kube.connection() if self.kubeconfig is not None else None,
        )
        try:
            await kopf.operator(
                registry=registry,
                standalone=True,
                clusterwide=not self.settings.namespaces,
                namespaces=list(self.settings.namespaces),
                stop_flag=self._kopf_stop,
                ready_flag=self._kopf_ready,
            )
        finally:
            await client.aclose()

    # API -----------------------------------------------------------------------------------------

    def _start_api(self, *, timeout: float) -> None:
        assert self.database is not None and self.kube is not None
        deps = ApiDeps(
            database=self.database,
            registry=Registry(self.database),
            kube=self.kube,
            http=httpx.Client(timeout=5.0, auth=self.runtime_auth, proxy=self.settings.runtime_proxy),
            auth=self.auth,
            namespaces=self.settings.namespaces,
            keystore=self.keystore,
            process=self,
        )
        config = uvicorn.Config(
            create_app(deps),
            host=self.settings.api_host,
            port=self.settings.api_port,
            log_config=None,
            access_log=False,
        )
        self._api_server = uvicorn.Server(config)
        self._api_thread = threading.Thread(target=self._api_server.run, name="api", daemon=True)
        self._api_thread.start()
        deadline = threading.Event()
        for _ in range(int(timeout * 20)):
            if self._api_server.started:
                self._api_port = self._api_server.servers[0].sockets[0].getsockname()[1]
                return
            deadline.wait(0.05)
        raise RuntimeError(f"the API did not start on {self.api_url}")


def _keystore(database: db.Database, keys: Sequence[str]) -> keystore.Keystore | None:
    """No keys: the key store is off (keystore secretRefs fail, the keys API answers 503). Malformed
    keys raise KeystoreMisconfigured: the operator refuses to start rather than run half-configured."""
    if not keys:
        log.warning("no %s: secretRefs with source keystore cannot be resolved", keystore.ENV_VAR)
        return None
    return keystore.Keystore(database, keys)


def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]
