"""The whole slice, on `make run`'s own stack: the real operator (kopf) with the Kubernetes driver against
the dev cluster, whose controllers, kubelet and Service proxy run the plugin-runtime pods as real
processes; real kubectl, real PostgreSQL and the management API over HTTP.

One operator serves the session; every test uses its own plugin names and GTS ids, so tests are
independent of each other and of their order. Each module's Plugins are deleted after it (`harness`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from devservices import postgres
from plugin_devcluster.local import PLUGINS_IMAGE
from plugin_operator import db, keystore
from plugin_operator.app import OperatorProcess, repo_root
from plugin_operator.security import DevAuth
from plugin_operator.settings import OperatorSettings
from tests.support import kube, stack
from tests.support.waiting import wait_for

QUERY_TYPE = "gts.hypernetix.hyperspot.ax.query.v1~"
DATASOURCE_TYPE = "gts.hypernetix.hyperspot.ax.datasource.v1~"
#: A plugin folder that attacks its sandbox (tests/e2e/test_hostile_plugin.py).
HOSTILE_PLUGIN = Path(__file__).with_name("hostile")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def alive(pid: int) -> bool:
    """Whether a process runs (a zombie child of the test process is reaped and counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        return waited == 0
    except ChildProcessError:
        return True


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def query_id(slug: str, name: str = "rows") -> str:
    return f"{QUERY_TYPE}hyperspot.e2e.{slug.replace('-', '_')}.{name}.v1"


def localsql_plugin(name: str, *, version: str = "1.0.0", **spec: Any) -> dict[str, Any]:
    """A Plugin served by the built-in local datasource (no external dependency)."""
    slug = name.replace("-", "_")
    body: dict[str, Any] = {
        "version": version,
        "contractFormat": "native",
        "adapter": "localsql",
        "config": {"table": "server_metrics"},
        "queries": [
            {
                "id": query_id(name),
                "name": "Rows",
                "category": "e2e",
                "apiEndpoint": f"/e2e/{name}",
                "capabilitiesId": f"gts.hypernetix.hyperspot.ax.query_capabilities.v1~hyperspot.e2e.{slug}.default.v1",
                "returnsSchemaId": f"gts.hypernetix.hyperspot.ax.schema.v1~hyperspot.e2e.{slug}.rows.v1~",
            }
        ],
    }
    body.update(spec)
    return plugin_manifest(name, body)


def rest_plugin(
    name: str, backend: str, *, ports: list[int], config: dict[str, Any] | None = None, **spec: Any
) -> dict[str, Any]:
    """A Plugin served by the built-in REST adapter from `backend`'s `/orders` (its `items`), allowed
    egress to `ports` on loopback only (the embedded cluster's network fence enforces it); `config`
    adds to the adapter's config, `spec` to the Plugin's."""
    slug = name.replace("-", "_")
    body: dict[str, Any] = {
        "version": "1.0.0",
        "contractFormat": "custom",
        "adapter": "rest",
        "config": {"base_url": backend, "health_path": "/health", "retry_count": 0, **(config or {})},
        "egress": [{"cidr": "127.0.0.1/32", "ports": ports}],
        "queries": [
            {
                "id": query_id(name),
                "name": "Orders",
                "category": "e2e",
                "apiEndpoint": f"/e2e/{name}",
                "capabilitiesId": f"gts.hypernetix.hyperspot.ax.query_capabilities.v1~hyperspot.e2e.{slug}.default.v1",
                "returnsSchemaId": f"gts.hypernetix.hyperspot.ax.schema.v1~hyperspot.e2e.{slug}.rows.v1~",
                "options": {"url": "{base_url}/orders", "rows": "$.items"},
            }
        ],
    }
    body.update(spec)
    return plugin_manifest(name, body)


def plugin_manifest(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "analytics.hyperspot.io/v1alpha1",
        "kind": "Plugin",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


class Harness:
    """What a test drives: kubectl on the cluster, the database, the API and the runtimes."""

    def __init__(self, cluster: kube.RunningCluster, database: db.Database, auth: DevAuth, settings: OperatorSettings):
        self.cluster, self.database, self.auth, self.settings = cluster, database, auth, settings
        self.process: OperatorProcess | None = None
        #: Handed to the operator directly, not through the test process's environment.
        self.fernet_keys = [keystore.generate_key()]

    # Operator ------------------------------------------------------------------------------------

    def start_operator(self) -> None:
        self.process = OperatorProcess(
            self.settings,
            auth=self.auth.settings,
            kubeconfig=str(self.cluster.kubeconfig_path),
            fernet_keys=self.fernet_keys,
        )
        self.process.start()

    def stop_operator(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    @contextlib.contextmanager
    def reconfigured(self, **changes: Any) -> Iterator[OperatorSettings]:
        """The operator restarted with `changes` to its settings, as a user changes its environment
        and restarts it, and restarted with the session's settings afterwards. Plugins it made that
        are still there then roll to those settings: delete them first if that is not the point."""
        original = self.settings
        self.stop_operator()
        self.settings = dataclasses.replace(original, **changes)
        try:
            self.start_operator()
            yield self.settings
        finally:
            self.stop_operator()
            self.settings = original
            self.start_operator()

    # kubectl -------------------------------------------------------------------------------------

    def apply(self, manifest: dict[str, Any]) -> str:
        return self.cluster.kubectl_ok("apply", "-f", "-", input=yaml.safe_dump(manifest))

    def patch(self, name: str, patch: dict[str, Any]) -> None:
        self.cluster.kubectl_ok("patch", "plugin", name, "--type=merge", "-p", json.dumps(patch))

    def get(self, name: str) -> dict[str, Any] | None:
        result = self.cluster.kubectl("get", "plugin", name, "-o", "json")
        if result.returncode != 0:
            assert "NotFound" in result.stderr or "not found" in result.stderr, result.stderr
            return None
        return dict(json.loads(result.stdout))

    def status(self, name: str) -> dict[str, Any]:
        return dict((self.get(name) or {}).get("status") or {})

    def condition(self, name: str, kind: str) -> dict[str, Any]:
        return next((c for c in self.status(name).get("conditions", []) if c["type"] == kind), {})

    def wait_phase(self, name: str, phase: str, *, timeout: float = 60.0) -> dict[str, Any]:
        def reached() -> dict[str, Any]:
            status = self.status(name)
            assert status.get("phase") == phase, status  # the last status seen is what a timeout reports
            return status

        return dict(wait_for(reached, timeout=timeout, what=f"{name} to be {phase}"))

    def events(self, name: str) -> list[dict[str, Any]]:
        items = self.cluster.kubectl_json("get", "events", "-n", "default")["items"]
        return [e for e in items if e["involvedObject"].get("name") == name]

    def delete(self, name: str) -> None:
        self.cluster.kubectl_ok("delete", "plugin", name, "--wait=false")

    def delete_all_plugins(self, *, timeout: float = 60.0) -> None:
        """Delete every Plugin of the tests' namespace and wait until the operator has removed them all."""

        def gone() -> bool:
            items = self.cluster.kubectl_json("get", "plugins", "-n", "default")["items"]
            assert not items, [p["metadata"]["name"] for p in items]
            return True

        self.cluster.kubectl_ok("delete", "plugins", "--all", "-n", "default", "--wait=false")
        wait_for(gone, timeout=timeout, what="every Plugin to be removed")

    # Runtime and API -----------------------------------------------------------------------------

    def query(self, name: str, *, params: dict[str, str] | None = None) -> httpx.Response:
        endpoint = self.status(name)["endpoint"]
        return self.runtime_get(f"{endpoint}/queries/{query_id(name)}", params=params or {"$top": "2"})

    def runtime_get(
        self,
        url: str,
        *,
        params: dict[str, str] | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """A runtime call as the query executor makes it: with a token carrying the execute role."""
        headers = {**(headers or {}), "Authorization": f"Bearer {token or self.auth.execute_token}"}
        proxy = self.settings.runtime_proxy  # the dev cluster's Service names, as the operator reaches them
        return httpx.get(url, params=params, headers=headers, timeout=10, proxy=proxy, trust_env=proxy is None)

    def api(self, method: str, path: str, *, token: str | None = None) -> httpx.Response:
        assert self.process is not None
        headers = {"Authorization": f"Bearer {token or self.auth.admin_token}"}
        return httpx.request(method, f"{self.process.api_url}/api/analytics/v1{path}", headers=headers, timeout=10)

    def runtime_pids(self, name: str) -> list[int]:
        """The plugin-runtime processes of the Plugin's pods (inside their sandboxes), host pids."""
        return stack.runtime_pids(self.cluster, name)

    def runtime_files(self, name: str) -> list[Path]:
        """Every file the kubelet keeps for the Plugin's pods (volumes, container logs)."""
        kubelet = stack.kubelet(self.cluster)
        folders = [kubelet.directory(namespace, pod) for namespace, pod in stack.pods_of(self.cluster, name)]
        return [p for folder in folders if folder is not None for p in folder.rglob("*") if p.is_file()]

    def isolation_missing(self) -> tuple[str, ...]:
        """The isolation mechanisms the embedded kubelet's container runtime cannot apply here."""
        return stack.kubelet(self.cluster).isolation.missing


def plugins_image(folder: Path) -> Path:
    """The session's plugins image: the example plugin folders (what `make run` serves) plus the hostile
    plugin written for `test_hostile_plugin.py`, loaded as any third-party folder is."""
    skip = shutil.ignore_patterns("__pycache__", ".pytest_cache")
    shutil.copytree(repo_root() / "examples" / "plugins", folder, ignore=skip)
    shutil.copytree(HOSTILE_PLUGIN, folder / HOSTILE_PLUGIN.name, ignore=skip)
    return folder


@contextlib.contextmanager
def _cluster(tmp: Path) -> Iterator[kube.RunningCluster]:
    """The embedded dev cluster running pods (`make run`'s), or the real one of E2E_KUBECONFIG
    (`make e2e-kind`; its Services reached through E2E_RUNTIME_PROXY)."""
    external = os.environ.get("E2E_KUBECONFIG")
    if external:
        yield kube.RunningCluster(cluster=None, kubeconfig_path=Path(external), cache_dir=tmp / "cache")  # type: ignore[arg-type]
        return
    with stack.pod_cluster(tmp, plugins=plugins_image(tmp / "plugins-image")) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def session_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    state = tmp_path_factory.mktemp("operator-state")
    with postgres.temporary_schema_url() as url, _cluster(tmp_path_factory.mktemp("kube")) as cluster:
        cluster.kubectl_ok("apply", "-f", str(repo_root() / "crds" / "plugins.yaml"))
        auth = DevAuth.generate()
        embedded = cluster.cluster is not None
        settings = OperatorSettings(
            database_url=url,
            driver="kubernetes",
            state_dir=state,
            plugins_image=PLUGINS_IMAGE if embedded else os.environ.get("E2E_PLUGINS_IMAGE"),
            runtime_proxy=cluster.cluster.proxy_url if embedded else os.environ.get("E2E_RUNTIME_PROXY"),
            health_interval=1.0,
            unhealthy_after=2,
            rollout_probes=2,
            rollout_probe_interval=0.2,
            drain_seconds=1.5,
            api_port=free_port(),
            runtime_auth=auth.runtime_auth,  # runtime auth on, as `make run` and the chart have it
        )
        db.migrate(url)
        with operating(Harness(cluster, db.connect(url), auth, settings), cluster.kubeconfig_path) as harness:
            yield harness


@pytest.fixture(scope="module")
def harness(session_harness: Harness) -> Iterator[Harness]:
    """The session's operator, left with no Plugins after each module: a Plugin left behind keeps its
    pod running and the operator probing it every second for the rest of the session (by the last
    module some 60 runtimes, which slowed every later test several-fold on 2 cores)."""
    yield session_harness
    session_harness.delete_all_plugins()


@contextlib.contextmanager
def operating(harness: Harness, kubeconfig: Path) -> Iterator[Harness]:
    """The harness's operator running against `kubeconfig` (which kopf's login reads from KUBECONFIG);
    afterwards the operator and the database handle are stopped and KUBECONFIG restored (the pods
    stop with their cluster)."""
    previous = os.environ.get("KUBECONFIG")
    os.environ["KUBECONFIG"] = str(kubeconfig)
    harness.start_operator()
    try:
        yield harness
    finally:
        harness.stop_operator()
        harness.database.dispose()
        if previous is None:
            os.environ.pop("KUBECONFIG", None)
        else:
            os.environ["KUBECONFIG"] = previous
