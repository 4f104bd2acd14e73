"""The drivers' cluster: the embedded API under the Helm chart's RBAC, an admin client that sets
the scene, and the operator's client holding exactly the chart's ServiceAccount rules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from plugin_operator.kube import Kube
from tests.support import kube as kube_support
from tests.support import rbac as rbac_support


@pytest.fixture
def cluster() -> Iterator[kube_support.RunningCluster]:
    with kube_support.dev_cluster(authorizer=rbac_support.authorizer(rbac_support.chart_identity())) as running:
        yield running


@pytest.fixture
def admin(cluster: kube_support.RunningCluster) -> Iterator[Kube]:
    kube = Kube.from_config(str(cluster.kubeconfig_path))
    yield kube
    kube.close()


@pytest.fixture
def operator(cluster: kube_support.RunningCluster, tmp_path: Path) -> Iterator[Kube]:
    """The driver's client: the chart's ServiceAccount, nothing more."""
    kube = Kube.from_config(str(rbac_support.kubeconfig(cluster.url, tmp_path / "operator")))
    yield kube
    kube.close()
