"""The Kubernetes driver against the dev cluster, under the Helm chart's RBAC: it applies exactly the
objects of the instance it is handed, finds, promotes, suspends and removes them.

The dev cluster runs no kubelet, so the test plays its part: it marks a Deployment available by
patching its status subresource, as the Deployment controller would once pods are ready.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from plugin_operator import desired, models, naming, runtime_config
from plugin_operator.drivers.base import Handle, Instance, RuntimeStartFailed
from plugin_operator.drivers.kubernetes import KubernetesDriver
from plugin_operator.kube import Kube
from plugin_runtime import errors

NAME = "prom"
TARGET = desired.Target(image="registry.example/runtime:1", kubernetes=True)


def _plugin(version: str, **spec: Any) -> dict[str, Any]:
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
            "replicas": 2,
            **spec,
        },
    }


def _instance(admin: Kube, version: str, *, secrets: dict[str, str] | None = None, **spec: Any) -> Instance:
    body = admin.apply(_plugin(version, **spec))
    parsed = models.PluginSpec.model_validate(body["spec"])
    return desired.instance(
        namespace="default",
        cr_name=NAME,
        uid=body["metadata"]["uid"],
        plugin_id=NAME,
        spec=parsed,
        target=TARGET,
        secrets=secrets,
        secret_versions={"prom-creds/token": "1"},
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


async def _start(driver: KubernetesDriver, url: str, instance: Instance) -> Handle:
    handle, _ = await asyncio.gather(driver.start(instance), _become_available(url, instance.names.deployment))
    return handle


def _stripped(obj: dict[str, Any]) -> dict[str, Any]:
    """An object as applied: what the server adds (uid, resourceVersion, status…) left out."""
    meta = {
        k: v
        for k, v in obj["metadata"].items()
        if k in ("name", "namespace", "labels", "annotations", "ownerReferences")
    }
    return {**{k: v for k, v in obj.items() if k not in ("metadata", "status")}, "metadata": meta}


def test_start_applies_exactly_the_rendered_objects(cluster, admin: Kube, operator: Kube) -> None:
    async def scenario() -> None:
        driver = KubernetesDriver(kube=operator, poll_interval=0.05, start_timeout=20)
        v1 = _instance(admin, "1.0.0")
        handle = await _start(driver, cluster.url, v1)

        assert handle.endpoint == f"http://{v1.names.deployment}.default.svc:80"
        assert handle.instance_id == v1.instance_id and handle.admin_token
        for rendered in v1.objects(admin_token=handle.admin_token):
            kind, name = rendered["kind"], rendered["metadata"]["name"]
            stored = admin.get(rendered["apiVersion"], kind, "default", name)
            assert stored is not None, (kind, name)
            if kind == "Secret":
                assert stored["metadata"]["ownerReferences"] == rendered["metadata"]["ownerReferences"]
                continue  # stored as data, applied as stringData
            assert _stripped(stored) == rendered, kind
        pod = admin.get("apps/v1", "Deployment", "default", v1.names.deployment)["spec"]["template"]
        env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in pod["spec"]["containers"][0]["env"]}
        assert env["PLUGIN_SECRET_BEARER_TOKEN"] == {"name": "prom-creds", "key": "token"}
        assert admin.get("v1", "Service", "default", NAME) is None  # nothing routed before promotion

        # Adoption: the same instance is found again; another identity is not.
        assert await driver.find(v1.key, v1.instance_id) == handle
        assert await driver.find(v1.key, "1.0.0-0123456789") is None
        assert (await driver.start(v1)).endpoint == handle.endpoint

    asyncio.run(scenario())


def test_a_spec_change_runs_a_new_instance_beside_the_old_and_promotion_routes_to_it(
    cluster, admin: Kube, operator: Kube
) -> None:
    async def scenario() -> None:
        driver = KubernetesDriver(kube=operator, poll_interval=0.05, start_timeout=20)
        v1 = _instance(admin, "1.0.0")
        h1 = await _start(driver, cluster.url, v1)
        await driver.promote(v1, h1)
        scaled = _instance(admin, "1.0.0", replicas=3, egress=[{"cidr": "192.168.0.0/16", "ports": [9200]}])
        h2 = await _start(driver, cluster.url, scaled)

        assert scaled.names.deployment != v1.names.deployment
        assert admin.get("apps/v1", "Deployment", "default", v1.names.deployment) is not None
        assert admin.get("apps/v1", "Deployment", "default", scaled.names.deployment)["spec"]["replicas"] == 3
        policy = admin.get("networking.k8s.io/v1", "NetworkPolicy", "default", NAME)
        assert {"ipBlock": {"cidr": "192.168.0.0/16"}} in policy["spec"]["egress"][-1]["to"]
        stable = admin.get("v1", "Service", "default", NAME)
        assert stable["spec"]["selector"][naming.INSTANCE_LABEL] == v1.identity[:10]

        await driver.promote(scaled, h2)
        stable = admin.get("v1", "Service", "default", NAME)
        assert stable["spec"]["selector"][naming.INSTANCE_LABEL] == scaled.identity[:10]

        await driver.stop(v1.key, v1.instance_id)
        assert admin.get("apps/v1", "Deployment", "default", v1.names.deployment) is None
        assert admin.get("v1", "ConfigMap", "default", v1.names.configmap) is None
        assert admin.get("v1", "Service", "default", v1.names.deployment) is None

        await driver.suspend(scaled)
        assert admin.get("apps/v1", "Deployment", "default", scaled.names.deployment)["spec"]["replicas"] == 0

    asyncio.run(scenario())


def test_stop_all_removes_every_object_of_the_plugin(cluster, admin: Kube, operator: Kube) -> None:
    async def scenario() -> None:
        driver = KubernetesDriver(kube=operator, poll_interval=0.05, start_timeout=20)
        first = _instance(
            admin,
            "1.0.0",
            secretRefs=[{"name": "api_key", "source": "keystore"}],
            secrets={"PLUGIN_SECRET_API_KEY": "k"},
        )
        await driver.promote(first, await _start(driver, cluster.url, first))
        second = _instance(admin, "2.0.0")
        await _start(driver, cluster.url, second)
        admin.apply(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "unrelated", "namespace": "default"}}
        )

        await driver.stop_all(first.key)

        for api_version, kind in (
            ("apps/v1", "Deployment"),
            ("v1", "Service"),
            ("v1", "ConfigMap"),
            ("v1", "Secret"),
            ("networking.k8s.io/v1", "NetworkPolicy"),
        ):
            assert admin.list(api_version, kind, "default", naming.plugin_selector(NAME)) == [], kind
        assert admin.get("v1", "ConfigMap", "default", "unrelated") is not None

    asyncio.run(scenario())


def test_a_deployment_that_never_becomes_available_fails_the_start(admin: Kube, operator: Kube) -> None:
    async def scenario() -> None:
        driver = KubernetesDriver(kube=operator, start_timeout=1, poll_interval=0.1)
        with pytest.raises(RuntimeStartFailed, match="no available replica"):
            await driver.start(_instance(admin, "1.0.0"))

    asyncio.run(scenario())


def test_an_invalid_manifest_is_a_clear_error(admin: Kube) -> None:
    with pytest.raises(errors.InvalidInput, match="rejected by the Kubernetes API"):
        admin.apply(
            {
                "apiVersion": models.API_VERSION,
                "kind": models.KIND,
                "metadata": {"name": "x", "namespace": "default"},
                "spec": {"version": ""},
            }
        )


def test_stored_keys_reach_the_pods_through_a_secret_of_their_own(cluster, admin: Kube, operator: Kube) -> None:
    value = "stored\nvalue"

    async def scenario() -> None:
        driver = KubernetesDriver(kube=operator, poll_interval=0.05, start_timeout=20)
        instance = _instance(
            admin,
            "1.0.0",
            secretRefs=[{"name": "api_key", "source": "keystore"}],
            secrets={runtime_config.secret_env_var("api_key"): value},
        )
        await _start(driver, cluster.url, instance)
        deployment = admin.get("apps/v1", "Deployment", "default", instance.names.deployment)
        env = {
            e["name"]: e["valueFrom"]["secretKeyRef"]
            for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        }
        ref = env["PLUGIN_SECRET_API_KEY"]
        assert ref == {"name": instance.names.stored_keys, "key": "api_key"}
        assert admin.read_secret_key("default", ref["name"], "api_key").value == value
        assert "stored" not in str(deployment)
        await driver.stop(instance.key, instance.instance_id)
        assert admin.get("v1", "Secret", "default", ref["name"]) is None

    asyncio.run(scenario())
