"""The Kubernetes driver against the dev cluster: the objects it creates, finds, promotes and removes.

The dev cluster runs no kubelet, so the test plays its part: it marks a Deployment available by
patching its status subresource, as the Deployment controller would once pods are ready.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from plugin_operator import models, render, runtime_config
from plugin_operator.drivers.base import Instance, RuntimeStartFailed
from plugin_operator.drivers.kubernetes import KubernetesDriver
from plugin_operator.kube import Kube
from plugin_operator.runtime_client import RuntimeClient
from plugin_operator.settings import OperatorSettings
from plugin_runtime import errors
from tests.support import kube as kube_support

NAME = "prom"


def _plugin(version: str) -> dict[str, Any]:
    return {
        "apiVersion": models.API_VERSION,
        "kind": models.KIND,
        "metadata": {"name": NAME, "namespace": "default"},
        "spec": {
            "version": version,
            "contractFormat": "prometheus",
            "adapter": "prometheus",
            "config": {"base_url": "http://prometheus:9090"},
            "secretRefs": [{"name": "bearer_token", "secretName": "prom-creds", "key": "token"}],
            "egress": [{"cidr": "10.0.0.0/8", "ports": [9090]}],
        },
    }


@pytest.fixture
def cluster() -> Iterator[kube_support.RunningCluster]:
    with kube_support.dev_cluster() as running:
        yield running


def _instance(kube: Kube, version: str) -> Instance:
    body = kube.apply(_plugin(version))
    spec = models.PluginSpec.model_validate(body["spec"])
    config = runtime_config.build(plugin_id=NAME, spec=spec)
    return Instance(
        key=f"default.{NAME}",
        namespace="default",
        cr_name=NAME,
        uid=body["metadata"]["uid"],
        plugin_id=NAME,
        version=version,
        config_hash=runtime_config.config_hash(config, {"prom-creds/token": "1"}),
        runtime_config=config,
        replicas=2,
    )


async def _become_available(url: str, deployment: str) -> None:
    """Play the Deployment controller: once the Deployment exists, report it available."""
    path = f"{url}/apis/apps/v1/namespaces/default/deployments/{deployment}"
    async with httpx.AsyncClient() as client:
        while (await client.get(path)).status_code == 404:
            await asyncio.sleep(0.05)
        response = await client.patch(
            f"{path}/status",
            json={"status": {"availableReplicas": 2, "readyReplicas": 2, "replicas": 2}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        response.raise_for_status()


async def _start(driver: KubernetesDriver, url: str, instance: Instance):
    deployment = render.names(NAME, instance.version).deployment
    handle, _ = await asyncio.gather(driver.start(instance), _become_available(url, deployment))
    return handle


def test_start_find_promote_suspend_stop(cluster: kube_support.RunningCluster) -> None:
    kube = Kube.from_config(str(cluster.kubeconfig_path))
    settings = OperatorSettings(driver="kubernetes", default_image="registry.example/runtime:1")

    async def scenario() -> None:
        client = RuntimeClient()
        driver = KubernetesDriver(kube=kube, client=client, settings=settings, start_timeout=20)
        v1 = _instance(kube, "1.0.0")
        handle = await _start(driver, cluster.url, v1)
        names = render.names(NAME, "1.0.0")
        assert handle.endpoint == f"http://{names.deployment}.default.svc:80"
        assert handle.instance_id == v1.instance_id and handle.admin_token

        deployment = kube.get("apps/v1", "Deployment", "default", names.deployment)
        assert deployment["spec"]["replicas"] == 2
        owner = deployment["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["uid"]) == ("Plugin", NAME, v1.uid)
        pod = deployment["spec"]["template"]
        assert pod["metadata"]["annotations"][render.CONFIG_HASH_ANNOTATION] == v1.config_hash
        env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in pod["spec"]["containers"][0]["env"]}
        assert env["PLUGIN_SECRET_BEARER_TOKEN"] == {"name": "prom-creds", "key": "token"}
        admin_secret = env[runtime_config.ADMIN_TOKEN_ENV]["name"]
        assert kube.get("v1", "Secret", "default", admin_secret) is not None
        assert kube.get("v1", "ConfigMap", "default", names.configmap) is not None
        assert kube.get("networking.k8s.io/v1", "NetworkPolicy", "default", names.network_policy) is not None
        stable = kube.get("v1", "Service", "default", names.service)
        assert stable["spec"]["selector"]["app.kubernetes.io/version"] == "1.0.0"

        # Adoption: the same instance is found again; another config hash is not.
        assert (await driver.find(v1.key, v1.instance_id)) == handle
        assert await driver.find(v1.key, "1.0.0-0123456789") is None
        assert (await driver.start(v1)).endpoint == handle.endpoint

        # A new version runs beside the old one; promotion switches the stable Service.
        v2 = _instance(kube, "2.0.0")
        handle2 = await _start(driver, cluster.url, v2)
        assert kube.get("v1", "Service", "default", names.service)["spec"]["selector"]["app.kubernetes.io/version"] == "1.0.0"
        await driver.promote(v2, handle2)
        assert kube.get("v1", "Service", "default", names.service)["spec"]["selector"]["app.kubernetes.io/version"] == "2.0.0"

        # Disabled: scaled to zero, objects kept. Old version stopped: its objects deleted.
        await driver.suspend(v2.key, v2.instance_id)
        assert kube.get("apps/v1", "Deployment", "default", render.names(NAME, "2.0.0").deployment)["spec"]["replicas"] == 0
        await driver.stop(v1.key, v1.instance_id)
        assert kube.get("apps/v1", "Deployment", "default", names.deployment) is None
        assert kube.get("v1", "ConfigMap", "default", names.configmap) is None
        assert kube.get("v1", "Service", "default", names.deployment) is None

        await driver.stop_all(v2.key)
        assert kube.get("v1", "Service", "default", names.service) is None
        assert kube.get("networking.k8s.io/v1", "NetworkPolicy", "default", names.network_policy) is None
        assert kube.get("v1", "Secret", "default", admin_secret) is None
        await client.aclose()

    asyncio.run(scenario())
    kube.close()


def test_a_deployment_that_never_becomes_available_fails_the_start(cluster: kube_support.RunningCluster) -> None:
    kube = Kube.from_config(str(cluster.kubeconfig_path))

    async def scenario() -> None:
        client = RuntimeClient()
        driver = KubernetesDriver(kube=kube, client=client, settings=OperatorSettings(), start_timeout=1)
        with pytest.raises(RuntimeStartFailed, match="no available replica"):
            await driver.start(_instance(kube, "1.0.0"))
        await client.aclose()

    asyncio.run(scenario())
    kube.close()


def test_an_invalid_manifest_is_a_clear_error(cluster: kube_support.RunningCluster) -> None:
    kube = Kube.from_config(str(cluster.kubeconfig_path))
    with pytest.raises(errors.InvalidInput, match="rejected by the Kubernetes API"):
        kube.apply({"apiVersion": models.API_VERSION, "kind": models.KIND, "metadata": {"name": "x", "namespace": "default"}, "spec": {"version": ""}})
    kube.close()


def test_stored_keys_reach_the_pods_through_a_secret_of_their_own(cluster: kube_support.RunningCluster) -> None:
    kube = Kube.from_config(str(cluster.kubeconfig_path))
    plugin = _plugin("1.0.0")
    plugin["spec"]["secretRefs"] = [{"name": "api_key", "source": "keystore"}]
    body = kube.apply(plugin)
    spec = models.PluginSpec.model_validate(body["spec"])
    config = runtime_config.build(plugin_id=NAME, spec=spec)
    instance = Instance(
        key=f"default.{NAME}", namespace="default", cr_name=NAME, uid=body["metadata"]["uid"], plugin_id=NAME,
        version="1.0.0", config_hash=runtime_config.config_hash(config, {"keystore:api_key": "v1"}),
        runtime_config=config, secrets={"PLUGIN_SECRET_API_KEY": "stored-value"}, replicas=1,
    )

    async def scenario() -> None:
        client = RuntimeClient()
        driver = KubernetesDriver(kube=kube, client=client, settings=OperatorSettings(), start_timeout=20)
        await _start(driver, cluster.url, instance)
        names = render.names(NAME, "1.0.0")
        deployment = kube.get("apps/v1", "Deployment", "default", names.deployment)
        env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
        ref = env["PLUGIN_SECRET_API_KEY"]
        assert ref["key"] == "api_key"
        assert kube.read_secret_key("default", ref["name"], "api_key").value == "stored-value"
        assert "stored-value" not in str(deployment)
        await driver.stop(instance.key, instance.instance_id)
        assert kube.get("v1", "Secret", "default", ref["name"]) is None
        await client.aclose()

    asyncio.run(scenario())
    kube.close()
