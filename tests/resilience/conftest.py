"""The resilience suite: the real operator, wired through fault injectors, on `make run`'s stack (the
Kubernetes driver; the dev cluster's kubelet runs the runtime pods in the sandbox).

The operator reaches PostgreSQL through a `TcpProxy` (cut it: the database is down) and the
Kubernetes API through `KubeFaults` (chosen requests answer 409 or 5xx). kubectl and the test's own
database handle go direct, so a test can look at the cluster and the rows while the operator
cannot. One operator serves the suite; after every test the proxy is restored, faults are cleared
and the operator is running again, so a failing test never breaks the next one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from devservices import postgres
from plugin_devcluster import write_kubeconfig
from plugin_operator import db
from plugin_operator.app import OperatorProcess, repo_root
from plugin_operator.db import tables
from plugin_operator.security import DevAuth
from plugin_operator.settings import OperatorSettings
from tests.e2e.conftest import Harness, free_port, operating
from tests.support import kube, stack
from tests.support.tcpproxy import TcpProxy

from .kube_faults import KubeFaults

#: The operator's database URL carries this password (PostgreSQL's trust auth ignores it): it must never show.
PASSWORD = "resilience-db-password-never-shown"
HEALTH_INTERVAL_SECONDS = 1.0


class ResilienceHarness(Harness):
    """The e2e `Harness`, with the operator's database and Kubernetes API behind fault injectors."""

    def __init__(
        self,
        cluster: kube.RunningCluster,
        database: db.Database,
        auth: DevAuth,
        settings: OperatorSettings,
        *,
        db_proxy: TcpProxy,
        kube_faults: KubeFaults,
        operator_kubeconfig: Path,
    ) -> None:
        super().__init__(cluster, database, auth, settings)
        self.db_proxy, self.kube_faults, self.operator_kubeconfig = db_proxy, kube_faults, operator_kubeconfig

    def start_operator(self) -> None:
        self.process = OperatorProcess(
            self.settings,
            auth=self.auth.settings,
            kubeconfig=str(self.operator_kubeconfig),
            fernet_keys=self.fernet_keys,
        )
        self.process.start()

    def count(self, table: sa.Table, column: sa.Column[str], value: str) -> int:
        """Rows of `table` whose `column` equals `value`, read directly (not through the proxy)."""
        statement = sa.select(sa.func.count()).select_from(table).where(column == value)
        return int(self.database.run(lambda tx: tx.connection.execute(statement).scalar_one()))

    def rows_of(self, plugin_id: str, query: str) -> tuple[int, int]:
        """(plugins rows of the plugin, gts_entities rows of its query)."""
        return self.count(tables.plugins, tables.plugins.c.id, plugin_id), self.count(
            tables.gts_entities, tables.gts_entities.c.id, query
        )


@pytest.fixture(scope="session")
def resilience(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ResilienceHarness]:
    state = tmp_path_factory.mktemp("resilience-operator-state")
    with (
        postgres.temporary_schema_url() as url,
        stack.pod_cluster(tmp_path_factory.mktemp("resilience-kube")) as cluster,
        KubeFaults(cluster.url) as kube_faults,
    ):
        target = sa.make_url(url)
        with TcpProxy(target.host or "127.0.0.1", target.port or 5432) as db_proxy:
            cluster.kubectl_ok("apply", "-f", str(repo_root() / "crds" / "plugins.yaml"))
            operator_kubeconfig = write_kubeconfig(kube_faults.url, state / "operator-kubeconfig")
            auth = DevAuth.generate()
            settings = stack.operator_settings(
                cluster,
                runtime_auth=auth.runtime_auth,
                database_url=target.set(host="127.0.0.1", port=db_proxy.port, password=PASSWORD).render_as_string(
                    hide_password=False
                ),
                state_dir=state,
                health_interval=HEALTH_INTERVAL_SECONDS,
                unhealthy_after=2,
                rollout_probes=2,
                rollout_probe_interval=0.2,
                drain_seconds=1.0,
                api_port=free_port(),
            )
            db.migrate(url)
            harness = ResilienceHarness(
                cluster,
                db.connect(url),
                auth,
                settings,
                db_proxy=db_proxy,
                kube_faults=kube_faults,
                operator_kubeconfig=operator_kubeconfig,
            )
            with operating(harness, operator_kubeconfig) as running:
                yield running


@pytest.fixture
def harness(resilience: ResilienceHarness) -> Iterator[ResilienceHarness]:
    """The suite's harness, put back in order after the test: database reachable, no faults, operator up."""
    yield resilience
    resilience.db_proxy.restore()
    resilience.kube_faults.clear()
    if resilience.process is None:  # the test stopped it and failed before starting it again
        resilience.start_operator()
