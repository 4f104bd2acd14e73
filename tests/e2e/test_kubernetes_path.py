"""The production path end to end: the operator with the Kubernetes driver against the dev cluster,
under exactly the RBAC the Helm chart grants, real PostgreSQL, real plugin-runtime processes.

The dev cluster runs the pods (its controllers, kubelet and Service proxy, `plugin_devcluster`), with
a dev image registry holding the plugins image and a packaged plugin's image; every object is
compared with what `desired` renders for the Plugin as it stands.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from devservices import postgres
from plugin_devcluster import DevCluster
from plugin_devcluster.kubelet import KubeletConfig
from plugin_operator import db, desired, models, naming
from plugin_operator.app import repo_root
from plugin_operator.kube import Kube
from plugin_operator.security import DevAuth
from plugin_operator.settings import OperatorSettings
from tests.chart import helm
from tests.e2e.conftest import Harness, free_port, localsql_plugin, operating, unique, wait_for
from tests.support import kube
from tests.support import rbac as rbac_support
from tests.support.packages import write_distribution

#: The OCI image holding the plugin folders (mounted as the plugins directory), and an image carrying a
#: plugin packaged outside this project (tests.support.packages), by version.
PLUGINS_IMAGE = "registry.example.com/analytics/plugins:1"
ACME_IMAGE = "registry.example.com/analytics/acme-rows"

KINDS = (
    ("apps/v1", "Deployment"),
    ("v1", "Service"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
)


class Cluster:
    def __init__(self, harness: Harness, dev: DevCluster, admin: Kube) -> None:
        self.harness, self.dev, self.admin = harness, dev, admin

    def pids(self, name: str | None = None) -> list[int]:
        """The container processes the dev cluster's kubelet runs (of one Plugin's pods, or all)."""
        assert self.dev.kubelet is not None
        return [
            c.pid for (_, pod), c in self.dev.kubelet.containers().items() if name is None or pod.startswith(f"{name}-")
        ]

    def expected(self, name: str) -> desired.Instance:
        """The instance `desired` renders for the Plugin as it stands (secretRefs from Kubernetes Secrets:
        their resourceVersions as they stand)."""
        plugin = self.harness.get(name)
        assert plugin is not None
        spec = models.PluginSpec.model_validate(plugin["spec"])
        versions = {}
        for ref in spec.secret_refs:
            assert ref.source == "secret" and ref.secret_name is not None
            secret = self.admin.get("v1", "Secret", "default", ref.secret_name)
            assert secret is not None, ref.secret_name
            versions[f"{ref.secret_name}/{ref.key}"] = secret["metadata"]["resourceVersion"]
        return desired.instance(
            namespace="default",
            cr_name=name,
            uid=plugin["metadata"]["uid"],
            plugin_id=spec.id_for(name),
            spec=spec,
            # The running operator's settings: they carry its control-plane key (part of the config).
            target=desired.target(self.harness.process.settings if self.harness.process else self.harness.settings),
            secret_versions=versions,
        )

    def objects(self, name: str) -> dict[tuple[str, str], dict[str, Any]]:
        found = {}
        for api_version, kind in KINDS:
            for obj in self.admin.list(api_version, kind, "default", naming.plugin_selector(name)):
                found[(kind, obj["metadata"]["name"])] = obj
        return found

    def wait_serving(self, name: str, identity: str) -> dict[str, Any]:
        """The instance with this identity promoted and every other instance drained away."""

        def settled() -> dict[str, Any] | None:
            status = self.harness.status(name)
            deployments = [n for kind, n in self.objects(name) if kind == "Deployment"]
            return (
                status
                if status.get("configHash") == identity and status.get("phase") == "Active" and len(deployments) == 1
                else None
            )

        return wait_for(settled, timeout=90, what=f"{name} serving {identity[:10]} alone")


def _stripped(obj: dict[str, Any]) -> dict[str, Any]:
    meta = {
        k: v
        for k, v in obj["metadata"].items()
        if k in ("name", "namespace", "labels", "annotations", "ownerReferences")
    }
    return {**{k: v for k, v in obj.items() if k not in ("metadata", "status")}, "metadata": meta}


def assert_applied_exactly(cluster: Cluster, name: str) -> desired.Instance:
    """Every object in the cluster is the rendering of the serving instance, and nothing else exists."""
    instance = cluster.expected(name)
    stored = cluster.objects(name)
    rendered = [*instance.objects(admin_token="-"), instance.stable_service()]
    assert sorted(stored) == sorted((o["kind"], o["metadata"]["name"]) for o in rendered)
    for obj in rendered:
        current = stored[(obj["kind"], obj["metadata"]["name"])]
        if obj["kind"] == "Secret":  # the token is minted by the driver; stored as data
            assert set(current["data"]) == set(obj["stringData"])
            continue
        assert _stripped(current) == obj, obj["kind"]
    return instance


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("k8s-path")
    identity = rbac_support.chart_identity()
    images = {PLUGINS_IMAGE: repo_root() / "examples" / "plugins"}
    for version in ("2.1.0", "2.2.0"):
        site = tmp / "images" / f"acme-rows-{version}"
        images[f"{ACME_IMAGE}:{version}"] = write_distribution(
            site, name="acme-rows", version=version, entry_point="acme-rows"
        )
    pods = KubeletConfig(root=tmp / "pods", images=images, backoff_base=1.0, backoff_cap=10.0)
    authorizer = rbac_support.authorizer(identity)
    with postgres.temporary_schema_url() as url, kube.dev_cluster(authorizer=authorizer, kubelet=pods) as dev:
        dev.kubectl_ok("apply", "-f", str(repo_root() / "crds" / "plugins.yaml"))
        dev.kubectl_ok("create", "namespace", helm.NAMESPACE)  # where the chart grants the leader Lease
        admin = Kube.from_config(str(dev.kubeconfig_path))
        auth = DevAuth.generate()
        settings = OperatorSettings(
            runtime_auth=auth.runtime_auth,
            database_url=url,
            driver="kubernetes",
            state_dir=tmp / "state",
            default_image="ghcr.io/hyperspot/plugin-runtime:test",
            plugins_image=PLUGINS_IMAGE,
            health_interval=1.0,
            unhealthy_after=2,
            rollout_probes=2,
            rollout_probe_interval=0.2,
            drain_seconds=1.0,
            api_port=free_port(),
            lease_name=helm.RELEASE,
            lease_namespace=helm.NAMESPACE,
            runtime_proxy=dev.cluster.proxy_url,  # Service names reach the pods through the dev cluster
        )
        db.migrate(url)
        harness = Harness(dev, db.connect(url), auth, settings)
        try:
            with operating(harness, rbac_support.kubeconfig(dev.url, tmp / "operator-kubeconfig")):
                yield Cluster(harness, dev.cluster, admin)
        finally:
            admin.close()


def test_create_reaches_active_with_exactly_the_rendered_objects(cluster: Cluster) -> None:
    name = unique("k8s")
    cluster.harness.apply(localsql_plugin(name))

    status = cluster.harness.wait_phase(name, "Active", timeout=90)
    instance = assert_applied_exactly(cluster, name)
    assert status["configHash"] == instance.identity
    assert status["endpoint"] == f"http://{instance.names.deployment}.default.svc:80"
    assert cluster.harness.query(name).status_code == 200
    stable = f"{naming.service_url(name, 'default')}/queries/{instance.runtime_config.plugins[0].queries[0].id}"
    assert stable.startswith(f"http://{name}.")
    assert cluster.harness.runtime_get(stable, params={"$top": "1"}).status_code == 200  # the stable Service routes


SPEC_CHANGES: list[tuple[str, dict[str, Any], Any]] = [
    ("replicas", {"replicas": 3}, lambda d, c, p: d["spec"]["replicas"] == 3),
    (
        "resources",
        {"resources": {"limits": {"cpu": "750m", "memory": "384Mi"}}},
        lambda d, c, p: (
            d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == {"cpu": "750m", "memory": "384Mi"}
        ),
    ),
    (
        "image",
        {"image": "registry.example.com/runtime:2"},
        lambda d, c, p: d["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example.com/runtime:2",
    ),
    (
        "egress",
        {"egress": [{"cidr": "10.1.0.0/16", "ports": [5432]}]},
        lambda d, c, p: {"ipBlock": {"cidr": "10.1.0.0/16"}} in p["spec"]["egress"][-1]["to"],
    ),
    (
        "config",
        {"config": {"table": "server_metrics", "database_url": "sqlite://"}},
        lambda d, c, p: "database_url: sqlite://" in c["data"]["runtime.yaml"],
    ),
]


def test_every_spec_change_reaches_the_objects_and_rolls_out_through_the_gate(cluster: Cluster) -> None:
    name = unique("k8s-edit")
    cluster.harness.apply(localsql_plugin(name))
    cluster.harness.wait_phase(name, "Active", timeout=90)
    previous = assert_applied_exactly(cluster, name)
    for what, change, reached in SPEC_CHANGES:
        cluster.harness.patch(name, {"spec": change})
        expected = cluster.expected(name)
        assert expected.identity != previous.identity, what
        status = cluster.wait_serving(name, expected.identity)
        instance = assert_applied_exactly(cluster, name)
        objects = cluster.objects(name)
        deployment = objects[("Deployment", instance.names.deployment)]
        configmap = objects[("ConfigMap", instance.names.configmap)]
        policy = objects[("NetworkPolicy", name)]
        assert reached(deployment, configmap, policy), what
        assert (
            status["servingVersion"] == "1.0.0"
            and status["observedGeneration"] == cluster.harness.get(name)["metadata"]["generation"]
        )
        assert status["endpoint"] == f"http://{instance.names.deployment}.default.svc:80"
        assert cluster.harness.query(name).status_code == 200, what
        previous = instance
    promoted = [e for e in cluster.harness.events(name) if e["reason"] == "Promoted"]
    assert len(promoted) >= len(SPEC_CHANGES)


def test_a_change_that_alters_nothing_running_restarts_nothing(cluster: Cluster) -> None:
    name = unique("k8s-same")
    cluster.harness.apply(localsql_plugin(name))
    cluster.harness.wait_phase(name, "Active", timeout=90)
    before = cluster.objects(name)
    pids = cluster.pids(name)

    cluster.harness.patch(name, {"spec": {"description": "now described", "displayName": "Described"}})
    generation = cluster.harness.get(name)["metadata"]["generation"]
    wait_for(
        lambda: cluster.harness.status(name).get("observedGeneration") == generation,
        timeout=30,
        what="the edit observed",
    )

    after = cluster.objects(name)
    assert sorted(after) == sorted(before)
    assert {k: v["metadata"]["resourceVersion"] for k, v in after.items()} == {
        k: v["metadata"]["resourceVersion"] for k, v in before.items()
    }
    assert pids and set(pids) <= set(cluster.pids(name))


def test_a_failing_change_rolls_back_and_the_old_instance_keeps_serving(cluster: Cluster) -> None:
    name = unique("k8s-bad")
    cluster.harness.apply(localsql_plugin(name))
    first = cluster.harness.wait_phase(name, "Active", timeout=90)
    good = assert_applied_exactly(cluster, name)

    cluster.harness.patch(name, {"spec": {"config": {"table": "not a table!"}}})
    failed = wait_for(
        lambda: (s := cluster.harness.status(name)).get("failedConfigHash") and s,
        timeout=90,
        what="the rollout to fail",
    )

    assert (failed["phase"], failed["configHash"], failed["endpoint"]) == ("Active", good.identity, first["endpoint"])
    progressing = cluster.harness.condition(name, "Progressing")
    assert progressing["reason"] == "InitFailed" and "localsql" in progressing["message"]
    assert "RolloutFailed" in {e["reason"] for e in cluster.harness.events(name)}
    wait_for(
        lambda: [k for k in cluster.objects(name) if k[0] == "Deployment"] == [("Deployment", good.names.deployment)],
        timeout=30,
        what="the failed instance's objects removed",
    )
    assert cluster.harness.query(name).status_code == 200


def test_delete_removes_every_object_and_the_plugin_within_seconds(cluster: Cluster) -> None:
    name = unique("k8s-del")
    cluster.harness.apply(localsql_plugin(name))
    cluster.harness.wait_phase(name, "Active", timeout=90)
    assert cluster.objects(name)

    started = time.monotonic()
    cluster.harness.delete(name)
    wait_for(
        lambda: cluster.harness.get(name) is None and not cluster.objects(name),
        timeout=15,
        what="the Plugin and its objects gone",
    )

    assert time.monotonic() - started < 15
    wait_for(lambda: not cluster.pids(name), timeout=10, what="its runtime stopped")


def _rollout_failed(cluster: Cluster, name: str, reason: str) -> dict[str, Any]:
    """The rollout failed for `reason` and its instance is gone: the status, once it says so."""
    failed = wait_for(
        lambda: (s := cluster.harness.status(name)).get("failedConfigHash") and s,
        timeout=90,
        what=f"the rollout of {name} to fail",
    )
    progressing = cluster.harness.condition(name, "Progressing")
    assert progressing["reason"] == reason, progressing
    wait_for(
        lambda: len([k for k in cluster.objects(name) if k[0] == "Deployment"]) == 1,
        timeout=30,
        what="the failed instance's objects removed",
    )
    return dict(failed)


def test_folder_plugin_code_reaches_the_pod_as_an_image_volume_and_its_version_is_checked(cluster: Cluster) -> None:
    """`path:` plugins in Kubernetes: the plugins image is mounted read-only as the plugins directory of
    the standard runtime image; a spec.version the folder's code is not fails its rollout."""
    manifest = yaml.safe_load((repo_root() / "examples" / "manifests" / "hello-world.yaml").read_text())
    name = manifest["metadata"]["name"] = unique("k8s-folder")
    manifest["spec"]["pluginId"] = "hello-world"  # the id its folder's manifest declares
    cluster.harness.apply(manifest)
    status = cluster.harness.wait_phase(name, "Active", timeout=90)
    instance = assert_applied_exactly(cluster, name)
    pod = cluster.objects(name)[("Deployment", instance.names.deployment)]["spec"]["template"]["spec"]
    assert {"name": "plugins", "image": {"reference": PLUGINS_IMAGE, "pullPolicy": "IfNotPresent"}} in pod["volumes"]
    query = manifest["spec"]["queries"][0]["id"]
    answer = cluster.harness.runtime_get(f"{status['endpoint']}/queries/{query}")
    assert answer.status_code == 200 and answer.json()["value"], answer.text

    cluster.harness.patch(name, {"spec": {"version": "2.0.0"}})  # the folder in the image is still 1.0.0
    failed = _rollout_failed(cluster, name, "VersionMismatch")

    assert (failed["phase"], failed["servingVersion"], failed["failedVersion"]) == ("Active", "1.0.0", "2.0.0")
    assert "is version 1.0.0, but spec.version is 2.0.0" in cluster.harness.condition(name, "Progressing")["message"]
    assert cluster.harness.runtime_get(f"{failed['endpoint']}/queries/{query}").status_code == 200


def test_image_sourced_plugin_code_must_be_the_version_the_plugin_names(cluster: Cluster) -> None:
    """A plugin packaged into its own runtime image (spec.image, an entry point of another distribution):
    the package's version is the code's, so an image carrying another version fails its rollout."""
    name = unique("k8s-image")
    plugin = localsql_plugin(name, version="2.1.0", adapter="acme-rows", image=f"{ACME_IMAGE}:2.1.0")
    cluster.harness.apply(plugin)
    first = cluster.harness.wait_phase(name, "Active", timeout=90)
    good = assert_applied_exactly(cluster, name)
    assert cluster.harness.query(name).status_code == 200

    cluster.harness.patch(name, {"spec": {"image": f"{ACME_IMAGE}:2.2.0"}})  # spec.version still 2.1.0
    failed = _rollout_failed(cluster, name, "VersionMismatch")

    assert (failed["configHash"], failed["servingVersion"], failed["endpoint"]) == (
        good.identity,
        "2.1.0",
        first["endpoint"],
    )
    message = cluster.harness.condition(name, "Progressing")["message"]
    assert "(package of entry point acme-rows) is version 2.2.0, but spec.version is 2.1.0" in message
    assert "RolloutFailed" in {e["reason"] for e in cluster.harness.events(name)}

    cluster.harness.patch(name, {"spec": {"version": "2.2.0"}})  # the CR now names what the image carries
    expected = cluster.expected(name)
    status = cluster.wait_serving(name, expected.identity)
    assert status["servingVersion"] == "2.2.0" and not status.get("failedVersion")
    assert cluster.harness.query(name).status_code == 200


def test_a_secret_ref_reaches_the_pod_env_and_its_rotation_rolls_out(cluster: Cluster) -> None:
    """spec.secretRefs become the container's env (secretKeyRef, never a value in the manifest); a
    rotated Secret is a new instance, gated like any other change."""
    name, secret = unique("k8s-env"), unique("backend-token")
    cluster.admin.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": secret, "namespace": "default"},
            "stringData": {"token": "s3cr3t-first-value\n"},
        }
    )
    cluster.harness.apply(localsql_plugin(name))
    cluster.harness.wait_phase(name, "Active", timeout=90)

    refs = [{"name": "api_key", "source": "secret", "secretName": secret, "key": "token"}]
    cluster.harness.patch(name, {"spec": {"secretRefs": refs}})
    expected = cluster.expected(name)
    cluster.wait_serving(name, expected.identity)
    instance = assert_applied_exactly(cluster, name)
    container = cluster.objects(name)[("Deployment", instance.names.deployment)]["spec"]["template"]["spec"]
    env = {e["name"]: e for e in container["containers"][0]["env"]}
    assert env["PLUGIN_SECRET_API_KEY"] == {
        "name": "PLUGIN_SECRET_API_KEY",
        "valueFrom": {"secretKeyRef": {"name": secret, "key": "token"}},
    }
    assert "s3cr3t" not in str(cluster.objects(name)) and "s3cr3t" not in str(cluster.harness.get(name))

    cluster.admin.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": secret, "namespace": "default"},
            "stringData": {"token": "s3cr3t-second-value\n"},
        }
    )
    rotated = cluster.expected(name)
    assert rotated.identity != instance.identity
    cluster.wait_serving(name, rotated.identity)
    assert_applied_exactly(cluster, name)
    assert cluster.harness.query(name).status_code == 200
