"""Shared runtimes end to end: the operator with the Kubernetes driver (under the Helm chart's RBAC) puts
built-in-adapter Plugins into one runtime pool; each keeps its own stable Service, status and health; a
member whose backend hangs, under load, does not slow or break its neighbours; one member's change or
removal reaches the pool's runtime without restarting it.

As in `test_kubernetes_path`, the dev cluster runs the pods (sandboxed) and routes Services to them.
The backends are local — a small JSON API, and a socket that accepts connections and never answers —
and every member declares both as its egress (egress is part of a pool's class: one pool for all).
"""

from __future__ import annotations

import concurrent.futures
import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devservices import postgres
from plugin_devcluster import DevCluster
from plugin_devcluster.kubelet import KubeletConfig
from plugin_operator import db, naming, pool_render
from plugin_operator.app import repo_root
from plugin_operator.kube import Kube
from plugin_operator.security import DevAuth
from plugin_operator.settings import OperatorSettings
from tests.chart import helm
from tests.e2e.conftest import Harness, free_port, operating, query_id, rest_plugin, unique, wait_for
from tests.support import kube
from tests.support import rbac as rbac_support

ORDERS = [{"id": i, "name": f"order-{i}"} for i in range(5)]


class _Api(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        body = json.dumps({"items": ORDERS} if self.path.startswith("/orders") else {"ok": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Backends:
    """A JSON API that answers, and an address that accepts every connection and never answers."""

    def __init__(self) -> None:
        self.api = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Api)
        self.hang = socket.create_server(("127.0.0.1", 0), backlog=512)
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        threading.Thread(target=self.api.serve_forever, daemon=True).start()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def ports(self) -> set[int]:
        return {int(self.api.server_address[1]), int(self.hang.getsockname()[1])}

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api.server_address[1]}"

    @property
    def hang_url(self) -> str:
        return f"http://127.0.0.1:{self.hang.getsockname()[1]}"

    def _accept(self) -> None:
        self.hang.settimeout(0.2)
        while not self._stop.is_set():
            try:
                self._held.append(self.hang.accept()[0])
            except TimeoutError:
                continue

    def close(self) -> None:
        self._stop.set()
        self.api.shutdown()
        for held in self._held:
            held.close()
        self.hang.close()


class Shared:
    def __init__(self, harness: Harness, dev: DevCluster, admin: Kube, backends: Backends) -> None:
        self.harness, self.dev, self.admin, self.backends = harness, dev, admin, backends

    def plugin(self, name: str, backend: str) -> dict[str, Any]:
        return rest_plugin(
            name,
            backend,
            ports=sorted(self.backends.ports),
            config={"timeout": "2s"},
            runtime="shared",
            sandbox={"timeout": "3s", "maxConcurrentQueries": 4},
        )

    def pools(self) -> dict[str, dict[str, Any]]:
        """Pool name → its member table (from the pools' ConfigMaps)."""
        found = self.admin.list("v1", "ConfigMap", "default", pool_render.POOLED_SELECTOR)
        return {
            c["metadata"]["labels"][pool_render.POOL_LABEL]: {
                k: m.instance_id for k, m in pool_render.members_of(c).items()
            }
            for c in found
        }

    def pool_of(self, name: str) -> str:
        [pool] = [pool for pool, members in self.pools().items() if f"default.{name}" in members]
        return pool

    def pod_pids(self) -> dict[str, int]:
        """Pod name → the pid of its container, of every pod the dev cluster's kubelet runs."""
        assert self.dev.kubelet is not None
        return {pod: c.pid for (_, pod), c in self.dev.kubelet.containers().items()}

    def pod_pid(self, pool: str) -> int:
        [pid] = [pid for pod, pid in self.pod_pids().items() if pod.startswith(f"{pool}-")]
        return pid

    def query_url(self, name: str) -> str:
        """The plugin's query at its own stable Service."""
        return f"{self.harness.status(name)['serviceEndpoint']}/queries/{query_id(name)}"

    def query(self, name: str) -> httpx.Response:
        return self.harness.runtime_get(self.query_url(name), params={"$top": "10"})


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    tmp = tmp_path_factory.mktemp("shared-runtimes")
    identity = rbac_support.chart_identity()
    backends = Backends()
    pods = KubeletConfig(root=tmp / "pods", images={}, backoff_base=1.0, backoff_cap=10.0)
    authorizer = rbac_support.authorizer(identity)
    with postgres.temporary_schema_url() as url, kube.dev_cluster(authorizer=authorizer, kubelet=pods) as dev:
        dev.kubectl_ok("apply", "-f", str(repo_root() / "crds" / "plugins.yaml"))
        dev.kubectl_ok("create", "namespace", helm.NAMESPACE)
        admin = Kube.from_config(str(dev.kubeconfig_path))
        auth = DevAuth.generate()
        settings = OperatorSettings(
            runtime_auth=auth.runtime_auth,
            database_url=url,
            driver="kubernetes",
            state_dir=tmp / "state",
            default_image="ghcr.io/hyperspot/plugin-runtime:test",
            health_interval=1.0,
            unhealthy_after=2,
            rollout_probes=2,
            rollout_probe_interval=0.2,
            drain_seconds=1.0,
            api_port=free_port(),
            lease_name=helm.RELEASE,
            lease_namespace=helm.NAMESPACE,
            runtime_proxy=dev.cluster.proxy_url,
            pool_size=4,
        )
        db.migrate(url)
        harness = Harness(dev, db.connect(url), auth, settings)
        try:
            with operating(harness, rbac_support.kubeconfig(dev.url, tmp / "operator-kubeconfig")):
                yield Shared(harness, dev.cluster, admin, backends)
        finally:
            admin.close()
            backends.close()


def _rows(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return [{"id": row["id"], "name": row["name"]} for row in response.json()["value"]]


def test_members_share_one_runtime_and_a_hanging_neighbour_under_load_disturbs_none(shared: Shared) -> None:
    good = [unique("ok"), unique("ok")]
    stuck = unique("stuck")
    for name in good:
        shared.harness.apply(shared.plugin(name, shared.backends.api_url))
    shared.harness.apply(shared.plugin(stuck, shared.backends.hang_url))
    for name in good:
        shared.harness.wait_phase(name, "Active", timeout=90)
    wait_for(lambda: shared.harness.status(stuck).get("phase") in ("Active", "Degraded"), timeout=60, what="stuck")

    pool = shared.pool_of(good[0])
    assert shared.pool_of(good[1]) == shared.pool_of(stuck) == pool  # one process for the three
    assert sorted(p.rsplit("-", 2)[0] for p in shared.pod_pids() if p.startswith("pool-")) == sorted(
        shared.pools()
    )  # a runtime per pool, none per member
    for name in (*good, stuck):
        status = shared.harness.status(name)
        assert status["serviceEndpoint"] == naming.service_url(name, "default")  # each its own stable address
        service = shared.admin.get("v1", "Service", "default", name)
        assert service is not None and service["spec"]["selector"] == pool_render.selector(pool)
    pid = shared.pod_pid(pool)

    for name in (*good, stuck):  # each answers at its own stable Service, routed to the pool
        assert shared.query(name).status_code == (200 if name in good else 504)

    # 24 queries to the hanging member at once (its sandbox admits 4, each waits up to its 3 s timeout)
    # while the neighbours are queried one after another, each at its own stable Service.
    urls = {name: shared.query_url(name) for name in (*good, stuck)}
    with concurrent.futures.ThreadPoolExecutor(max_workers=24) as callers:
        hanging = [callers.submit(shared.harness.runtime_get, urls[stuck]) for _ in range(24)]
        time.sleep(0.5)  # the hanging calls are in flight
        answered, slowest = 0, 0.0
        while not all(f.done() for f in hanging):
            for name in good:
                started = time.monotonic()
                assert _rows(shared.harness.runtime_get(urls[name], params={"$top": "10"})) == ORDERS
                slowest, answered = max(slowest, time.monotonic() - started), answered + 1
        stuck_codes = sorted({f.result().status_code for f in hanging})
    assert answered >= 10, answered
    # A neighbour waiting on the hanging plugin would take its 3 s timeout; they answer in a fraction of it.
    assert slowest < 1.5, f"a neighbour took {slowest:.2f} s beside the hanging plugin"
    assert set(stuck_codes) <= {503, 504}, stuck_codes  # no slot left (503) or its time limit (504)
    for name in good:
        assert shared.harness.status(name)["phase"] == "Active"
    wait_for(lambda: shared.harness.status(stuck).get("phase") == "Degraded", timeout=30, what="stuck Degraded")
    assert shared.pod_pid(pool) == pid  # nothing restarted the shared runtime


def test_one_members_change_and_removal_reach_the_runtime_without_restarting_it(shared: Shared) -> None:
    first, second = unique("chg"), unique("chg")
    # One after the other, so placement is the same every run: `first` takes the room left in the pool
    # of the test before (or opens one), `second` joins or opens the next. Applied together, `first`
    # could open a pool alone, and removing it at the end would rightly remove that pool.
    for name in (first, second):
        shared.harness.apply(shared.plugin(name, shared.backends.api_url))
        shared.harness.wait_phase(name, "Active", timeout=90)
    pool = shared.pool_of(first)
    assert all(len(members) <= 4 for members in shared.pools().values())  # the pool size bound (4 here)
    pids = {name: shared.pod_pid(name) for name in shared.pools()}
    before = shared.harness.status(first)["configHash"]

    # A new config of one member: rolled out inside the pool, through the gate, the neighbour untouched.
    shared.harness.patch(first, {"spec": {"version": "1.1.0", "config": {"page_size": 2}}})
    status = wait_for(
        lambda: (s := shared.harness.status(first)).get("servingVersion") == "1.1.0" and s["phase"] == "Active" and s,
        timeout=60,
        what=f"{first} serving 1.1.0",
    )
    assert status["configHash"] != before
    assert len(shared.query(first).json()["value"]) == 2  # the new page size is served
    assert _rows(shared.query(second)) == ORDERS
    wait_for(lambda: shared.pools()[pool].get(f"default.{first}") == f"1.1.0-{status['configHash'][:10]}", timeout=10)

    # A change that cannot load rolls back to the entry that served.
    shared.harness.patch(first, {"spec": {"version": "1.2.0", "config": {"health_path": "no-leading-slash"}}})

    def rolled_back() -> dict[str, Any]:
        status = shared.harness.status(first)
        assert status.get("failedVersion") == "1.2.0", status  # the last status seen is what a timeout reports
        return status

    assert wait_for(rolled_back, timeout=60, what="rollback")["servingVersion"] == "1.1.0"
    assert len(shared.query(first).json()["value"]) == 2

    # Removal: the member leaves the pool's table and its runtime; the neighbour keeps serving.
    shared.harness.delete(first)
    wait_for(lambda: f"default.{first}" not in shared.pools().get(pool, {}), timeout=30, what="member removed")
    assert _rows(shared.query(second)) == ORDERS
    metadata = shared.harness.runtime_get(f"{shared.harness.status(second)['endpoint']}/metadata").json()
    assert {p["id"] for p in metadata["plugins"]} >= {second} and first not in {p["id"] for p in metadata["plugins"]}
    assert {name: shared.pod_pid(name) for name in shared.pools()} == pids  # no runtime restarted throughout
