"""A scaffolded plugin deploys as it is: `plugin-runtime new` into the operator's plugins directory,
then `kubectl apply -f NAME/deploy/` → Active, registered, and answering its query over HTTP.

This test runs its own operator (Kubernetes driver) whose plugins image is a temporary folder in the
dev cluster's image registry, so the scaffold never touches the repository.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devservices import postgres
from plugin_devcluster.kubelet import KubeletConfig
from plugin_operator import db
from plugin_operator.app import repo_root
from plugin_operator.security import DevAuth
from plugin_operator.settings import OperatorSettings
from plugin_runtime import scaffold
from tests.e2e.conftest import Harness, free_port, operating, wait_for
from tests.support import kube

NAME = "scaffolded-orders"
PLUGINS_IMAGE = "registry.example.com/scaffolded/plugins:1"


@pytest.fixture(scope="module")
def plugins_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Harness, Path]]:
    plugins = tmp_path_factory.mktemp("plugins")
    plugins.chmod(0o755)  # an image's content: readable by the pod's unprivileged uid
    state = tmp_path_factory.mktemp("operator-state")
    auth = DevAuth.generate()
    pods = KubeletConfig(root=tmp_path_factory.mktemp("pods"), images={PLUGINS_IMAGE: plugins}, backoff_base=1.0)
    with postgres.temporary_schema_url() as url, kube.dev_cluster(kubelet=pods) as cluster:
        cluster.kubectl_ok("apply", "-f", str(repo_root() / "crds" / "plugins.yaml"))
        settings = OperatorSettings(
            database_url=url,
            driver="kubernetes",
            state_dir=state,
            plugins_image=PLUGINS_IMAGE,
            runtime_proxy=cluster.cluster.proxy_url,
            health_interval=1.0,
            unhealthy_after=2,
            rollout_probes=2,
            rollout_probe_interval=0.2,
            drain_seconds=1.5,
            api_port=free_port(),
            runtime_auth=auth.runtime_auth,  # runtime auth on, as `make run` and the chart have it
        )
        db.migrate(url)
        harness = Harness(cluster, db.connect(url), auth, settings)
        with operating(harness, cluster.kubeconfig_path) as running:
            yield running, plugins


@pytest.mark.e2e
def test_a_scaffolded_plugin_deploys_with_its_manifest(plugins_harness: tuple[Harness, Path]) -> None:
    harness, plugins = plugins_harness
    created = subprocess.run(
        [str(Path(sys.executable).parent / "plugin-runtime"), "new", NAME, "--dir", str(plugins)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr

    harness.cluster.kubectl_ok("apply", "-f", str(plugins / NAME / "deploy"))
    status = harness.wait_phase(NAME, "Active", timeout=120)

    query = scaffold.query_id(NAME, vendor="example")
    answer = harness.runtime_get(f"{status['endpoint']}/queries/{query}", params={"$top": "2", "$count": "true"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["@odata.count"] == 3
    assert [row["name"] for row in body["value"]] == ["alpha", "beta"]
    assert body["@odata.context"].endswith("$metadata#items")
    refused = harness.runtime_get(f"{status['endpoint']}/{NAME}/items", params={"$filter": "value gt 1"})
    assert refused.status_code == 501
    assert refused.headers["content-type"].startswith("application/problem+json")
    registered = harness.api("GET", f"/gts/{query}")
    assert registered.status_code == 200, registered.text

    harness.delete(NAME)
    wait_for(lambda: harness.get(NAME) is None, timeout=60, what=f"{NAME} to be deleted")
