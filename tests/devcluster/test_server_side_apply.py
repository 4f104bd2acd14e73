"""Server-side apply on the dev cluster: create, update, and pruning of what a manager stops applying."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from plugin_operator.kube import FIELD_MANAGER, Kube
from tests.support import kube as kube_support


@pytest.fixture
def kube() -> Iterator[Kube]:
    with kube_support.dev_cluster() as cluster:
        client = Kube.from_config(str(cluster.kubeconfig_path))
        yield client
        client.close()


def _deployment(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "default", "labels": {"a": "1"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "d"}},
            "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}},
            **spec,
        },
    }


def test_apply_creates_then_updates_in_place(kube: Kube) -> None:
    created = kube.apply(_deployment())
    updated = kube.apply(_deployment(replicas=3))

    assert created["metadata"]["uid"] == updated["metadata"]["uid"]
    assert updated["spec"]["replicas"] == 3
    assert int(updated["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    [entry] = updated["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"]) == (FIELD_MANAGER, "Apply")
    assert "f:replicas" in entry["fieldsV1"]["f:spec"]


def test_a_field_no_longer_applied_is_removed(kube: Kube) -> None:
    kube.apply(_deployment(revisionHistoryLimit=2))
    without = _deployment()
    without["metadata"]["labels"] = {}

    result = kube.apply(without)

    assert "revisionHistoryLimit" not in result["spec"]
    assert result["metadata"].get("labels", {}) == {}


def test_fields_of_other_writers_survive_an_apply(kube: Kube) -> None:
    kube.apply(_deployment())
    kube.patch("apps/v1", "Deployment", "default", "d", {"metadata": {"annotations": {"someone": "else"}}})

    result = kube.apply(_deployment(replicas=1))

    assert result["metadata"]["annotations"] == {"someone": "else"}
    assert result["spec"]["replicas"] == 1


def test_reapplying_the_same_object_changes_nothing(kube: Kube) -> None:
    first = kube.apply(_deployment())
    again = kube.apply(_deployment())

    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert again["spec"] == first["spec"]


def test_kubectl_apply_server_side_prunes_what_its_file_no_longer_says() -> None:
    manifest = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: default\ndata:\n  a: '1'\n  b: '2'\n"
    )
    with kube_support.dev_cluster() as cluster:
        assert "serverside-applied" in cluster.kubectl_ok("apply", "--server-side", "-f", "-", input=manifest)
        cluster.kubectl_ok("apply", "--server-side", "-f", "-", input=manifest.replace("  b: '2'\n", ""))

        stored = cluster.kubectl_json("get", "configmap", "x", "--show-managed-fields")
    assert stored["data"] == {"a": "1"}
    assert [e["manager"] for e in stored["metadata"]["managedFields"]] == ["kubectl"]
