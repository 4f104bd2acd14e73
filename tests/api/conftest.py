"""The management API over real HTTP, with everything behind it real but the plugin runtime.

One session: a throwaway PostgreSQL schema (migrated), the embedded dev cluster reached through the
operator's own `Kube` accessor, a programmable HTTP server standing in for plugin runtimes, and the
API served by uvicorn on a loopback port. Tests create their own uniquely named Plugins, so they
are independent of each other and of their order.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import fastapi
import httpx
import pytest
import uvicorn

from devservices import postgres
from plugin_operator import api, db, keystore, kube, models, registry, security
from plugin_operator.security import Role
from tests.support import kube as kube_support

from . import http_stub

NAMESPACES = ("default", "team-b")
ISSUER = "https://idp.test"
QUERY_TYPE = "gts.hypernetix.hyperspot.ax.query.v1~"
CAPABILITIES_ID = "gts.hypernetix.hyperspot.ax.query_capabilities.v1~hyperspot.apitest._.default.v1"
RETURNS_SCHEMA_ID = "gts.hypernetix.hyperspot.ax.schema.v1~hyperspot.apitest._.timeseries.v1~"


@contextlib.contextmanager
def serving(app: fastapi.FastAPI) -> Iterator[str]:
    """Serve `app` with uvicorn on a free loopback port in a thread; yield its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@dataclasses.dataclass(frozen=True)
class Tokens:
    """One token per row of the authentication matrix."""

    settings: security.AuthSettings

    def mint(self, *roles: str, subject: str = "alice", ttl: float = 3600, **overrides: Any) -> str:
        now = datetime.datetime.now(datetime.UTC)
        settings = dataclasses.replace(self.settings, **overrides) if overrides else self.settings
        return security.mint_token(settings, subject=subject, roles=roles, now=now, ttl=datetime.timedelta(seconds=ttl))

    @property
    def read(self) -> str:
        return self.mint(Role.READ, subject="reader")

    @property
    def write(self) -> str:
        return self.mint(Role.WRITE, subject="writer")

    @property
    def admin(self) -> str:
        return self.mint(Role.ADMIN, subject="admin")


@pytest.fixture(scope="session")
def tokens() -> Tokens:
    return Tokens(security.AuthSettings(secret=uuid.uuid4().hex * 2, issuer=ISSUER))


@pytest.fixture(scope="session")
def database() -> Iterator[db.Database]:
    with postgres.temporary_schema_url() as url:
        db.migrate(url)
        database = db.connect(url)
        yield database
        database.dispose()


@pytest.fixture(scope="session")
def cluster() -> Iterator[kube_support.RunningCluster]:
    with kube_support.dev_cluster(namespaces=NAMESPACES) as running:
        yield running


@pytest.fixture(scope="session")
def kube_client(cluster: kube_support.RunningCluster) -> Iterator[kube.Kube]:
    client = kube.Kube.from_config(str(cluster.kubeconfig_path))
    yield client
    client.close()


@pytest.fixture(scope="session")
def runtime() -> Iterator[http_stub.StubServer]:
    """Stands in for every plugin runtime: tests program `/plugins/<id>/health` and `/queries/<q>/translate`."""
    yield from http_stub.running()


@pytest.fixture(scope="session")
def deps(database: db.Database, kube_client: kube.Kube, tokens: Tokens) -> Iterator[api.ApiDeps]:
    with httpx.Client() as http:
        yield api.ApiDeps(
            database=database,
            registry=registry.Registry(database),
            kube=kube_client,
            http=http,
            auth=tokens.settings,
            runtime_timeout=0.5,
            keystore=keystore.Keystore(database, [keystore.generate_key()]),
        )


@pytest.fixture(scope="session")
def app(deps: api.ApiDeps) -> fastapi.FastAPI:
    return api.create_app(deps)


@pytest.fixture(scope="session")
def api_url(app: fastapi.FastAPI) -> Iterator[str]:
    with serving(app) as url:
        yield url


@pytest.fixture
def client(api_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{api_url}{api.PREFIX}", timeout=10) as http:
        yield http


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# Plugins ------------------------------------------------------------------------------------------


def query_id_for(plugin_id: str) -> str:
    return f"{QUERY_TYPE}hyperspot.apitest.{plugin_id.replace('-', '_')}.cpu.v1"


@dataclasses.dataclass(frozen=True)
class PluginRef:
    plugin_id: str
    name: str
    namespace: str
    query_id: str


PluginFactory = Callable[..., PluginRef]


def create_plugin(
    kube_client: kube.Kube,
    database: db.Database,
    runtime: http_stub.StubServer,
    *,
    plugin_id: str | None = None,
    name: str | None = None,
    namespace: str = "default",
    query_id: str | None = None,
    enabled: bool = True,
    phase: str | None = "Active",
    endpoint: str | None = "runtime",
    config: dict[str, Any] | None = None,
    secret_refs: list[dict[str, str]] | None = None,
    status: dict[str, Any] | None = None,
    mirrored: bool = True,
    contract_format: str = "prometheus",
    permissions: list[str] | None = None,
) -> PluginRef:
    """Create a Plugin CR with the status an operator would have written (`phase=None`: none yet)
    and, unless `mirrored=False`, its database row; `endpoint="runtime"` points at the runtime stub."""
    name = name or f"plg-{uuid.uuid4().hex[:8]}"
    pid = plugin_id or name
    qid = query_id or query_id_for(pid)
    spec: dict[str, Any] = {
        "version": "1.2.0",
        "enabled": enabled,
        "contractFormat": contract_format,
        "adapter": "prometheus",
        "displayName": f"Plugin {pid}",
        "config": config if config is not None else {"base_url": "http://prometheus:9090", "timeout": "5s"},
        "secretRefs": secret_refs or [],
        **({} if permissions is None else {"permissions": permissions}),
        "queries": [
            {
                "id": qid,
                "name": "CPU usage",
                "category": "monitoring",
                "apiEndpoint": "/metrics/cpu",
                "capabilitiesId": CAPABILITIES_ID,
                "returnsSchemaId": RETURNS_SCHEMA_ID,
            }
        ],
    }
    if plugin_id is not None:
        spec["pluginId"] = plugin_id
    body = {
        "apiVersion": models.API_VERSION,
        "kind": models.KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    created = kube_client.apply(body)
    if phase is not None:
        observed = {
            "phase": phase,
            "observedGeneration": created["metadata"]["generation"],
            "servingVersion": "1.2.0",
            "endpoint": runtime.url if endpoint == "runtime" else endpoint,
            **(status or {}),
        }
        kube_client.patch_plugin_status(namespace, name, {k: v for k, v in observed.items() if v is not None})
    if mirrored:
        database.upsert_plugin(
            db.PluginRecord(
                id=pid,
                name=f"Plugin {pid}",
                version="1.2.0",
                contract_format=contract_format,
                enabled=enabled,
                namespace=namespace,
                cr_name=name,
                uid=created["metadata"].get("uid"),
                phase=phase,
            ),
            actor="system:test-operator",
        )
    return PluginRef(plugin_id=pid, name=name, namespace=namespace, query_id=qid)


def register_query(database: db.Database, ref: PluginRef) -> None:
    """Register the plugin's query in the GTS registry, as the operator does when the plugin loads."""
    query = {
        "id": ref.query_id,
        "name": "CPU usage",
        "category": "monitoring",
        "api_endpoint": "/metrics/cpu",
        "capabilities_id": CAPABILITIES_ID,
        "returns_schema_id": RETURNS_SCHEMA_ID,
    }
    registry.Registry(database).register(ref.plugin_id, f"uid-{ref.name}", "1.2.0", [query], [], adopt=False)


@pytest.fixture
def make_plugin(kube_client: kube.Kube, database: db.Database, runtime: http_stub.StubServer) -> PluginFactory:
    return functools.partial(create_plugin, kube_client, database, runtime)


def healthy_document(plugin_id: str, status: str = "healthy") -> dict[str, Any]:
    """A health document as the runtime serves it (the spec's shape plus the runtime's extras)."""
    return {
        "status": status,
        "plugin_id": plugin_id,
        "version": "1.2.0",
        "uptime": "72h15m",
        "queries_executed": 15234,
        "error_rate": 0.02,
        "last_error": "2024-01-08T10:15:30Z",
        "last_error_message": None,
        "circuit": "closed",
        "dependencies": [{"name": "Prometheus API", "status": status, "response_time": "45ms"}],
    }


def serve_health(runtime: http_stub.StubServer, plugin_id: str, status: str = "healthy", **reply: Any) -> None:
    code = 200 if status in ("healthy", "degraded") else 503
    document = healthy_document(plugin_id, status)
    runtime.routes[f"/plugins/{plugin_id}/health"] = lambda _: http_stub.Reply(code, document, **reply)
