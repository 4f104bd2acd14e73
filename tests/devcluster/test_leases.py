"""Operator high availability: real `plugin-operator run` replicas elect a leader through a Lease on
the dev cluster; the standby takes over when the leader is killed mid-rollout or stops cleanly.

Every replica is its own process (`plugin-operator run --kubernetes --kubeconfig …`, with no
KUBECONFIG variable, the way a user first tried it) sharing one PostgreSQL schema, one state
directory and one dev cluster, whose kubelet runs the Kubernetes driver's runtime pods (in the
sandbox, as `make run` does): the pods outlive the operator that made them. The measured failover
times are printed (`-s`) for the README.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import yaml

from devservices import postgres
from plugin_devcluster.local import PLUGINS_IMAGE
from plugin_operator import db, keystore
from plugin_operator.app import OperatorProcess, repo_root
from plugin_operator.db import tables
from plugin_operator.kube import Kube
from plugin_operator.leadership import Leadership
from plugin_operator.lease import Timing
from plugin_operator.security import DEV_ISSUER, DEV_RUNTIME_AUDIENCE, DevAuth
from plugin_operator.settings import OperatorSettings
from tests.e2e.conftest import free_port, localsql_plugin, query_id, unique, wait_for
from tests.support import kube, stack
from tests.support import rbac as rbac_support

#: The chart's (and `plugin-operator run`'s) defaults: the failover measured is the production one.
TIMING = Timing()
LEASE = "plugin-operator"
API = "/api/analytics/v1"


@dataclasses.dataclass
class Replica:
    identity: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=5, **kwargs)

    def role(self) -> str | None:
        try:
            response = self.get("/healthz")
        except httpx.TransportError:
            return None
        return str(response.json().get("role")) if response.status_code == 200 else None

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@dataclasses.dataclass
class Fleet:
    cluster: kube.RunningCluster
    database: db.Database
    database_url: str
    auth: DevAuth
    state: Path
    fernet_key: str
    replicas: list[Replica] = dataclasses.field(default_factory=list)

    def start(self, identity: str) -> Replica:
        port = free_port()
        log = self.state / f"{identity}.log"
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        env.update(
            POD_NAME=identity,
            PLUGIN_OPERATOR_STATE_DIR=str(self.state),
            PLUGIN_OPERATOR_PLUGINS_IMAGE=PLUGINS_IMAGE,
            PLUGIN_OPERATOR_RUNTIME_PROXY=self.cluster.cluster.proxy_url,
            PLUGIN_OPERATOR_HEALTH_INTERVAL="1",
            PLUGIN_OPERATOR_UNHEALTHY_AFTER="2",
            # A slow enough rollout gate (6 probes, 0.5 s apart) that a kill lands in the middle of it.
            PLUGIN_OPERATOR_ROLLOUT_PROBES="6",
            PLUGIN_OPERATOR_ROLLOUT_PROBE_INTERVAL="0.5",
            PLUGIN_OPERATOR_DRAIN_SECONDS="1",
            PLUGIN_OPERATOR_LEASE_NAME=LEASE,
            PLUGIN_OPERATOR_JWT_SECRET=str(self.auth.settings.secret),
            PLUGIN_OPERATOR_JWT_ISSUER=DEV_ISSUER,
            # Runtime auth is on (the default): runtimes trust the test executor's key.
            PLUGIN_OPERATOR_RUNTIME_JWT_PUBLIC_KEY=self.auth.executor_public_key,
            PLUGIN_OPERATOR_RUNTIME_JWT_AUDIENCE=DEV_RUNTIME_AUDIENCE,
            PLUGIN_OPERATOR_RUNTIME_JWT_ISSUER=DEV_ISSUER,
            PLUGIN_OPERATOR_FERNET_KEYS=self.fernet_key,
        )
        command = [
            str(Path(sys.executable).with_name("plugin-operator")),
            "run",
            "--kubernetes",
            "--kubeconfig",
            str(self.cluster.kubeconfig_path),
            "--database-url",
            self.database_url,
            "--api-host",
            "127.0.0.1",
            "--api-port",
            str(port),
        ]
        with log.open("wb") as sink:
            process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
        replica = Replica(identity, process, f"http://127.0.0.1:{port}", log)
        self.replicas.append(replica)
        wait_for(
            lambda: (
                replica.role()
                or (process.poll() is not None and pytest.fail(f"{identity} exited:\n{replica.output()}"))
            ),
            timeout=60,
            what=f"{identity} to serve",
        )
        return replica

    def holder(self) -> str | None:
        lease = self.cluster.kubectl_json("get", "lease", LEASE, "-n", "default")
        return lease["spec"].get("holderIdentity")

    def lease_spec(self) -> dict[str, Any]:
        return dict(self.cluster.kubectl_json("get", "lease", LEASE, "-n", "default")["spec"])

    def status(self, name: str) -> dict[str, Any]:
        plugin = self.cluster.kubectl_json("get", "plugin", name)
        return dict(plugin.get("status") or {})

    def events(self, name: str) -> list[dict[str, Any]]:
        items = self.cluster.kubectl_json("get", "events", "-n", "default")["items"]
        return [e for e in items if e["involvedObject"].get("name") == name]

    def count(self, table: sa.Table, column: sa.Column[str], value: str) -> int:
        statement = sa.select(sa.func.count()).select_from(table).where(column == value)
        return int(self.database.run(lambda tx: tx.connection.execute(statement).scalar_one()))

    def audit_rows(self, plugin_id: str) -> list[sa.Row[Any]]:
        statement = sa.select(tables.audit_log).where(tables.audit_log.c.target == plugin_id)
        return list(self.database.run(lambda tx: tx.connection.execute(statement).all()))

    def runtime_pids(self, name: str) -> list[int]:
        """The plugin-runtime processes of the Plugin's pods, as the kubelet runs them (not from any
        operator's records)."""
        return stack.runtime_pids(self.cluster, name)

    def stop_replicas(self) -> None:
        for replica in self.replicas:
            if replica.process.poll() is None:
                replica.process.terminate()
                try:
                    replica.process.wait(30)
                except subprocess.TimeoutExpired:
                    replica.process.kill()
                    replica.process.wait()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    state = tmp_path_factory.mktemp("ha-state")
    with (
        postgres.temporary_schema_url() as url,
        stack.pod_cluster(tmp_path_factory.mktemp("ha-kube")) as cluster,
    ):
        cluster.kubectl_ok("apply", "-f", str(repo_root() / "crds" / "plugins.yaml"))
        db.migrate(url)
        fleet = Fleet(cluster, db.connect(url), url, DevAuth.generate(), state, keystore.generate_key())
        try:
            yield fleet
        finally:
            fleet.stop_replicas()  # the pods stop with their cluster
            fleet.database.dispose()


class ApiWatcher:
    """Calls a replica's management API every 0.1 s in the background and keeps every status code."""

    def __init__(self, replica: Replica, token: str) -> None:
        self.replica, self.token = replica, token
        self.statuses: list[int | str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        while not self._stop.wait(0.1):
            try:
                self.statuses.append(self.replica.get(f"{API}/plugins", headers=headers).status_code)
            except httpx.TransportError as exc:
                self.statuses.append(type(exc).__name__)

    @contextlib.contextmanager
    def running(self) -> Iterator[ApiWatcher]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(10)


def test_killing_the_leader_mid_rollout_hands_over_to_the_standby(fleet: Fleet) -> None:
    leader = fleet.start("replica-a")
    assert leader.role() == "leader"
    standby = fleet.start("replica-b")
    assert standby.role() == "standby"
    assert fleet.holder() == "replica-a"
    transitions = fleet.lease_spec()["leaseTransitions"]
    assert standby.get("/readyz").json() == {"status": "ready", "role": "standby"}

    name = unique("ha")
    with ApiWatcher(standby, fleet.auth.read_token).running() as watcher:
        fleet.cluster.kubectl_ok("apply", "-f", "-", input=yaml.safe_dump(localsql_plugin(name)))
        # Mid-rollout: the new runtime is up, its rollout gate (3 s of probes) has not passed yet.
        [pid] = wait_for(lambda: fleet.runtime_pids(name), timeout=60, what="the runtime to start")
        assert fleet.status(name).get("phase") != "Active", "the kill must land before the rollout completes"
        leader.process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        leader.process.wait(10)

        wait_for(lambda: standby.role() == "leader", timeout=TIMING.failover_bound + 30, what="the standby to lead")
        took_over = time.monotonic() - killed
        status = wait_for(
            lambda: (s := fleet.status(name)).get("phase") == "Active" and s, timeout=60, what=f"{name} Active"
        )
        completed = time.monotonic() - killed

    print(f"\nfailover after SIGKILL: standby leading after {took_over:.1f}s, rollout complete after {completed:.1f}s")
    assert took_over <= TIMING.failover_bound + 5, "the Lease bounds the takeover (lease duration + retry period)"
    assert fleet.holder() == "replica-b"
    assert fleet.lease_spec()["leaseTransitions"] == transitions + 1
    assert status["servingVersion"] == "1.0.0" and status["observedGeneration"] == 1
    assert fleet.runtime_pids(name) == [pid], "the runtime the dead leader started is adopted, not doubled"
    assert fleet.count(tables.plugins, tables.plugins.c.id, name) == 1
    assert fleet.count(tables.gts_entities, tables.gts_entities.c.id, query_id(name)) == 1
    actions = [(row.action, row.outcome) for row in fleet.audit_rows(name)]
    assert ("plugin.create", "success") in actions
    assert len(actions) == len(set(actions)), f"an audit row was written twice: {actions}"
    reasons = [(e["reason"], e["message"]) for e in fleet.events(name)]
    assert reasons, "the rollout posts Events"
    assert len(reasons) == len(set(reasons)), f"an Event was posted twice: {reasons}"
    assert all(e.get("count", 1) == 1 for e in fleet.events(name)), fleet.events(name)
    # The API answered on the surviving replica all along, before, during and after the takeover.
    assert watcher.statuses and set(watcher.statuses) == {200}, watcher.statuses
    assert standby.get("/readyz").json() == {"status": "ready", "role": "leader"}
    httpx.get(
        f"{status['endpoint']}/queries/{query_id(name)}",
        params={"$top": "1"},
        headers={"Authorization": f"Bearer {fleet.auth.execute_token}"},
        timeout=10,
        proxy=fleet.cluster.cluster.proxy_url,  # the Service's name, reached as the operator reaches it
    ).raise_for_status()


def test_a_clean_stop_hands_the_lease_over_within_a_retry_period(fleet: Fleet) -> None:
    """A rolling upgrade: the old leader stops reconciling, then releases the Lease; the new one leads."""
    if not any(r.process.poll() is None and r.role() == "leader" for r in fleet.replicas):
        fleet.start(unique("replica"))
    [leader] = [r for r in fleet.replicas if r.process.poll() is None and r.role() == "leader"]
    successor = fleet.start(unique("replica"))
    assert successor.role() == "standby"

    leader.process.send_signal(signal.SIGTERM)
    stopped = time.monotonic()
    assert leader.process.wait(40) == 0, leader.output()
    released = time.monotonic() - stopped
    wait_for(lambda: successor.role() == "leader", timeout=TIMING.retry_period + 20, what="the successor to lead")
    handed_over = time.monotonic() - stopped

    print(f"\nclean handover: old leader stopped in {released:.1f}s, successor leading after {handed_over:.1f}s")
    assert handed_over - released <= TIMING.retry_period + 3, "a released Lease is taken at the next retry"
    assert fleet.holder() == successor.identity
    assert "leader Lease released" in leader.output()


def test_a_leader_whose_lease_is_taken_stops_reconciling_and_fails_its_probes(fleet: Fleet) -> None:
    """Readiness and liveness go false when the watches stop: here because another holder took the Lease
    (an operator that lost its Lease must not reconcile on), seen by an in-process operator's API."""
    lease_name = unique("lease")
    fleet.stop_replicas()  # nothing but the operator under test may touch the fleet's Plugins now
    untouched = _plugin_versions(fleet)
    settings = stack.operator_settings(
        fleet.cluster,
        database_url=fleet.database_url,
        state_dir=fleet.state / "in-process",
        api_port=free_port(),
        # Its own Lease makes it a leader beside the fleet's: it must reconcile none of the fleet's Plugins.
        namespaces=("lease-test",),
        lease_name=lease_name,
        lease_timing=Timing(duration=4, renew_deadline=3, retry_period=0.5),
    )
    process = OperatorProcess(
        settings,
        auth=fleet.auth.settings,
        kubeconfig=str(fleet.cluster.kubeconfig_path),
        fernet_keys=[fleet.fernet_key],
        identity="in-process",
    )
    process.start()
    try:
        assert httpx.get(f"{process.api_url}/readyz").json() == {"status": "ready", "role": "leader"}

        def steal() -> bool:
            """Another holder takes the Lease (a compare-and-swap: retried when the leader renewed first)."""
            lease = fleet.cluster.kubectl_json("get", "lease", lease_name, "-n", "default")
            lease["spec"].update(holderIdentity="intruder", leaseDurationSeconds=60)
            result = fleet.cluster.kubectl("replace", "-f", "-", input=yaml.safe_dump(lease))
            assert result.returncode == 0 or "Conflict" in result.stderr, result.stderr
            return result.returncode == 0

        wait_for(steal, timeout=20, what="the Lease to be taken")

        wait_for(lambda: process.failure is not None, timeout=10, what="the leader to notice")
        live, ready = httpx.get(f"{process.api_url}/healthz"), httpx.get(f"{process.api_url}/readyz")
        assert live.status_code == ready.status_code == 503
        assert "held by intruder" in live.json()["detail"] and "held by intruder" in ready.json()["detail"]
        assert live.headers["content-type"].startswith("application/problem+json")
        with pytest.raises(RuntimeError, match="leadership lost"):
            process.wait()
        assert _plugin_versions(fleet) == untouched, "it reconciled a Plugin outside its namespace"
    finally:
        process.stop()
    assert (
        fleet.cluster.kubectl_json("get", "lease", lease_name, "-n", "default")["spec"]["holderIdentity"] == "intruder"
    )


def _plugin_versions(fleet: Fleet) -> dict[str, str]:
    """Every Plugin's resourceVersion: a reconcile (or a health probe) writes its status and changes it."""
    items = fleet.cluster.kubectl_json("get", "plugins", "--all-namespaces")["items"]
    return {f"{p['metadata']['namespace']}/{p['metadata']['name']}": p["metadata"]["resourceVersion"] for p in items}


def test_an_operator_that_may_not_write_the_lease_refuses_to_start(tmp_path: Path) -> None:
    """Without the chart's leader-election Role it neither reconciles nor pretends to be a standby."""
    identity = dataclasses.replace(rbac_support.chart_identity(), role_rules=())
    with (
        postgres.temporary_schema_url() as url,
        kube.dev_cluster(authorizer=rbac_support.authorizer(identity)) as cluster,
    ):
        cluster.kubectl_ok("apply", "-f", str(repo_root() / "crds" / "plugins.yaml"))
        process = OperatorProcess(
            OperatorSettings(database_url=url, state_dir=tmp_path, api_port=free_port()),
            auth=DevAuth.generate().settings,
            kubeconfig=str(rbac_support.kubeconfig(cluster.url, tmp_path / "operator-kubeconfig")),
            fernet_keys=[keystore.generate_key()],
        )
        try:
            with pytest.raises(RuntimeError, match=r"leader election did not decide.*not allowed"):
                process.start(timeout=5)
        finally:
            process.stop()


def test_candidates_racing_for_a_free_lease_elect_exactly_one_at_a_time() -> None:
    """Three candidates start at once: one leads, the others stand by through several renewals; when the
    leader stops cleanly exactly one of the others takes over."""
    timing = Timing(duration=4, renew_deadline=3, retry_period=0.3)
    with kube.dev_cluster() as cluster:
        clients = [Kube.from_config(str(cluster.kubeconfig_path)) for _ in range(3)]
        started: list[str] = []
        lost: list[str] = []

        def contender(index: int, client: Kube) -> Leadership:
            identity = f"candidate-{index}"
            return Leadership(
                client,
                namespace="default",
                name="race",
                identity=identity,
                timing=timing,
                on_started=lambda: started.append(identity),
                on_stopped=lost.append,
            )

        candidates = [contender(index, client) for index, client in enumerate(clients)]
        try:
            for candidate in candidates:
                candidate.start()
            wait_for(lambda: all(c.decided.is_set() for c in candidates), timeout=20, what="every role decided")
            renewals: set[str] = set()

            def renewed_three_times() -> bool:
                renewals.add(cluster.kubectl_json("get", "lease", "race")["spec"]["renewTime"])
                return len(renewals) >= 3

            wait_for(renewed_three_times, timeout=20, what="three renewals")
            [leader] = [c for c in candidates if c.leading]
            assert started == [leader.identity] and not lost

            leader.stop()
            wait_for(lambda: len(started) == 2, timeout=20, what="a successor")
            successors = [c for c in candidates if c is not leader and c.leading]
            assert [c.identity for c in successors] == started[1:] and not lost
        finally:
            for candidate in candidates:
                candidate.stop()
            for client in clients:
                client.close()
