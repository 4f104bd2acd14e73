"""Real clients against the dev cluster through the kubeconfig it writes: the official `kubernetes`
client, and kopf itself (in its own thread and loop, with a private registry, as `make run` does)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import kopf
import pytest
import yaml
from kubernetes import client, config

from plugin_devcluster import kubeconfig
from plugin_operator import models
from tests.devcluster.conftest import KopfThread, manifest, plugin
from tests.support.kube import RunningCluster

DEADLINE_SECONDS = 10.0


def _eventually(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_kubeconfig_points_at_the_cluster(cluster: RunningCluster) -> None:
    written = yaml.safe_load(cluster.kubeconfig_path.read_text())

    assert written["current-context"] == kubeconfig.CONTEXT
    assert written["clusters"][0]["cluster"]["server"] == cluster.url
    assert cluster.url.startswith("http://127.0.0.1:")


def test_the_official_client_works_with_the_kubeconfig(cluster: RunningCluster) -> None:
    api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig_path))
    custom = client.CustomObjectsApi(api_client)
    core = client.CoreV1Api(api_client)
    try:
        custom.create_namespaced_custom_object(
            models.GROUP, models.VERSION, "default", models.PLURAL, plugin("metrics")
        )
        custom.patch_namespaced_custom_object_status(
            models.GROUP, models.VERSION, "default", models.PLURAL, "metrics", {"status": {"phase": "Loaded"}}
        )
        secret = client.V1Secret(metadata=client.V1ObjectMeta(name="token"), string_data={"api_key": "s3cr3t"})
        core.create_namespaced_secret("default", secret)

        listed = custom.list_cluster_custom_object(models.GROUP, models.VERSION, models.PLURAL)
        read = core.read_namespaced_secret("token", "default")
        namespaces = core.list_namespace()
    finally:
        api_client.close()

    assert [(p["metadata"]["name"], p["status"]["phase"]) for p in listed["items"]] == [("metrics", "Loaded")]
    assert read.data == {"api_key": "czNjcjN0"}
    assert [ns.metadata.name for ns in namespaces.items] == ["default"]


@pytest.fixture
def seen(cluster: RunningCluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str]]]:
    """Runs kopf for the test with create/delete handlers of Plugins; yields what they saw."""
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig_path))
    registry = kopf.OperatorRegistry()
    calls: list[tuple[str, str]] = []

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        return kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.create(models.GROUP, models.VERSION, models.PLURAL, registry=registry)
    def created(name: str, body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
        calls.append(("create", name))
        patch.status["phase"] = "Loaded"
        kopf.info(body, reason="Loaded", message="the smoke test loaded it")

    @kopf.on.delete(models.GROUP, models.VERSION, models.PLURAL, registry=registry)
    def deleted(name: str, **_: Any) -> None:
        calls.append(("delete", name))

    operator = KopfThread(registry)
    operator.start()
    yield calls
    assert operator.stop(timeout=DEADLINE_SECONDS) < 3.0, "kopf took too long to stop"


def test_kopf_handles_creation_and_deletion_through_its_finalizer(
    cluster: RunningCluster, seen: list[tuple[str, str]]
) -> None:
    cluster.kubectl_ok("apply", "-f", "-", input=manifest(plugin("metrics")))

    def loaded() -> dict[str, Any] | None:
        obj: dict[str, Any] = cluster.kubectl_json("get", "plugin", "metrics")
        return obj if obj.get("status", {}).get("phase") == "Loaded" else None

    def described() -> str | None:
        text = cluster.kubectl_ok("describe", "plugin", "metrics")
        return text if "the smoke test loaded it" in text else None

    handled = _eventually(loaded, "the create handler's status patch")
    description = _eventually(described, "kopf's event about the handler")
    cluster.kubectl_ok("delete", "plugin", "metrics", "--timeout=10s")

    assert handled["metadata"]["finalizers"] == ["kopf.zalando.org/KopfFinalizerMarker"]
    event_rows = [line.split() for line in description.split("Events:")[1].strip().splitlines()[2:]]
    assert [(row[0], row[1], row[3]) for row in event_rows] == [("Normal", "Loaded", "kopf")]
    assert seen == [("create", "metrics"), ("delete", "metrics")]
    assert cluster.kubectl("get", "plugin", "metrics").returncode == 1
