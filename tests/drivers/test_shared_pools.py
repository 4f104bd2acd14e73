"""The Kubernetes driver's runtime pools against the dev cluster, under the Helm chart's RBAC: members
join one pool up to its size, each is told to the pool's runtime alone, a rollout inside the pool keeps
the previous entry until it is drained and puts it back on a rollback, and the pool goes with its last
member. The pool's runtime is a recording stand-in here (its admin API is tested in tests/runtime and
end to end in tests/e2e/test_shared_runtimes.py); the test plays the Deployment controller.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import httpx

from plugin_operator import desired, models, pool_render
from plugin_operator.drivers.base import Handle, Instance
from plugin_operator.drivers.kubernetes import KubernetesDriver
from plugin_operator.kube import Kube
from plugin_operator.runtime_client import RuntimeClient
from tests.support import kube as kube_support

TARGET = desired.Target(image="registry.example/runtime:1", kubernetes=True)


class RecordingRuntime:
    """The admin calls a pool's runtime receives: (endpoint, action, plugin id, version)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, str | None]] = []

    async def put_plugin(self, endpoint: str, token: str, plugin: dict[str, Any]) -> str | None:
        assert token
        self.calls.append((endpoint, "put", plugin["id"], plugin["version"]))
        return None

    async def remove_plugin(self, endpoint: str, token: str, plugin_id: str) -> None:
        self.calls.append((endpoint, "remove", plugin_id, None))


def _member(admin: Kube, name: str, version: str = "1.0.0", **spec: Any) -> Instance:
    body = admin.apply(
        {
            "apiVersion": models.API_VERSION,
            "kind": models.KIND,
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "version": version,
                "contractFormat": "native",
                "adapter": "localsql",
                "runtime": "shared",
                **spec,
            },
        }
    )
    return desired.instance(
        namespace="default",
        cr_name=name,
        uid=body["metadata"]["uid"],
        plugin_id=name,
        spec=models.PluginSpec.model_validate(body["spec"]),
        target=TARGET,
    )


async def _available(url: str, deployment: str) -> None:
    """Play the Deployment controller for a pool."""
    path = f"{url}/apis/apps/v1/namespaces/default/deployments/{deployment}"
    async with httpx.AsyncClient() as client:
        while (await client.get(path)).status_code == 404:
            await asyncio.sleep(0.05)
        response = await client.patch(
            f"{path}/status",
            json={"status": {"availableReplicas": 1, "readyReplicas": 1, "replicas": 1}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        response.raise_for_status()


def _tables(admin: Kube) -> dict[str, dict[str, str]]:
    found = admin.list("v1", "ConfigMap", "default", pool_render.POOLED_SELECTOR)
    return {
        c["metadata"]["labels"][pool_render.POOL_LABEL]: {
            k: m.instance_id for k, m in pool_render.members_of(c).items()
        }
        for c in found
    }


def test_members_fill_pools_roll_out_inside_them_and_the_last_one_out_removes_the_pool(
    cluster: kube_support.RunningCluster, admin: Kube, operator: Kube
) -> None:
    async def scenario() -> None:
        runtime = RecordingRuntime()
        driver = KubernetesDriver(
            kube=operator, client=cast(RuntimeClient, runtime), pool_size=2, poll_interval=0.05, start_timeout=20
        )
        a, b, c = (_member(admin, name) for name in ("a", "b", "c"))
        assert a.seat is not None
        first = f"pool-localsql-{a.seat.class_id}-0"
        second = f"pool-localsql-{a.seat.class_id}-1"
        handles = await asyncio.gather(
            driver.start(a),
            driver.start(b),
            driver.start(c),
            _available(cluster.url, first),
            _available(cluster.url, second),
        )
        assert _tables(admin) == {
            first: {"default.a": a.instance_id, "default.b": b.instance_id},
            second: {"default.c": c.instance_id},
        }
        assert {h.endpoint for h in handles[:2]} == {f"http://{first}.default.svc:80"} and all(
            h.shared for h in handles[:3]
        )
        assert sorted(call[2] for call in runtime.calls) == ["a", "b", "c"]  # each told to its pool alone
        assert await driver.find(a.key, a.instance_id) == handles[0]
        assert await driver.find(a.key, "1.0.0-0123456789") is None

        await driver.promote(a, handles[0])
        service = admin.get("v1", "Service", "default", "a")
        assert service is not None and service["spec"]["selector"] == pool_render.selector(first)
        assert service["metadata"]["ownerReferences"][0]["name"] == "a"

        # A rollout inside the pool: the new entry serves, the old one is kept until drained.
        a2 = _member(admin, "a", "1.1.0")
        runtime.calls.clear()
        await driver.start(a2)
        assert runtime.calls == [(f"http://{first}.default.svc:80", "put", "a", "1.1.0")]
        assert (
            await driver.find(a.key, a.instance_id) is not None and await driver.find(a.key, a2.instance_id) is not None
        )
        await driver.stop(a.key, a2.instance_id)  # the gate failed: the previous entry serves again
        assert runtime.calls[-1] == (f"http://{first}.default.svc:80", "put", "a", "1.0.0")
        assert _tables(admin)[first]["default.a"] == a.instance_id
        await driver.start(a2)
        await driver.stop(a.key, a.instance_id)  # promoted, then the old one drained: nothing to tell
        assert runtime.calls[-1][3] == "1.1.0" and _tables(admin)[first]["default.a"] == a2.instance_id

        assert await driver.keys() == {"default.a", "default.b", "default.c"}
        await driver.stop_all(c.key)  # the last member: the pool goes
        assert second not in _tables(admin) and admin.get("apps/v1", "Deployment", "default", second) is None
        await driver.suspend(b)  # a disabled member leaves its pool; its neighbour stays
        assert runtime.calls[-1] == (f"http://{first}.default.svc:80", "remove", "b", None)
        assert _tables(admin) == {first: {"default.a": a2.instance_id}}
        assert admin.get("apps/v1", "Deployment", "default", first) is not None

        # A restarted operator reads the pools back from the cluster.
        again = KubernetesDriver(kube=operator, client=cast(RuntimeClient, runtime), pool_size=2)
        expected = Handle(a2.key, a2.instance_id, handles[0].endpoint, handles[0].admin_token, shared=True)
        assert await again.find(a2.key, a2.instance_id) == expected

    asyncio.run(scenario())
