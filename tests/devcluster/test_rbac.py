"""The dev cluster enforces the Helm chart's RBAC for the operator's identity (and nothing for admins)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from plugin_devcluster import rbac
from plugin_operator import models
from plugin_operator.kube import Kube
from plugin_runtime import errors
from tests.support import kube as kube_support
from tests.support import rbac as rbac_support


@pytest.fixture
def cluster() -> Iterator[kube_support.RunningCluster]:
    with kube_support.dev_cluster(authorizer=rbac_support.authorizer(rbac_support.chart_identity())) as running:
        yield running


@pytest.fixture
def operator_kube(cluster: kube_support.RunningCluster, tmp_path: Path) -> Iterator[Kube]:
    kube = Kube.from_config(str(rbac_support.kubeconfig(cluster.url, tmp_path / "operator")))
    yield kube
    kube.close()


def _config_map(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}, "data": {}}


def test_the_operator_may_do_what_the_chart_grants(operator_kube: Kube) -> None:
    operator_kube.apply(_config_map("granted"))
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": "default"},
        "stringData": {"k": "v"},
    }
    operator_kube.apply(secret)

    assert operator_kube.get("v1", "ConfigMap", "default", "granted") is not None
    assert operator_kube.delete("v1", "Secret", "default", "s")  # the grant the chart used to miss
    assert operator_kube.list("v1", "ConfigMap", "default", {}) != []


def test_a_verb_the_chart_does_not_grant_is_forbidden(tmp_path: Path) -> None:
    granted = rbac_support.chart_identity()
    without_delete = dataclasses.replace(
        granted,
        rules=tuple(
            dataclasses.replace(rule, verbs=rule.verbs - {"delete"}) if "secrets" in rule.resources else rule
            for rule in granted.rules
        ),
    )
    with kube_support.dev_cluster(authorizer=rbac_support.authorizer(without_delete)) as cluster:
        kube = Kube.from_config(str(rbac_support.kubeconfig(cluster.url, tmp_path / "operator")))
        kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"}})
        with pytest.raises(errors.PluginUnavailable, match=r"not allowed.*403"):
            kube.delete("v1", "Secret", "default", "s")
        kube.close()


def test_admins_are_unrestricted_and_the_answer_reads_like_the_real_one(cluster: kube_support.RunningCluster) -> None:
    cluster.kubectl_ok("create", "namespace", "team-b")
    operator = rbac_support.chart_identity().user

    result = cluster.kubectl(f"--as={operator}", "delete", "namespace", "team-b")

    assert result.returncode != 0
    assert (
        'User "system:serviceaccount:analytics-system:plugin-operator" cannot delete resource "namespaces"'
        in result.stderr
    )
    assert cluster.kubectl_json("get", "namespace", "team-b")["metadata"]["name"] == "team-b"


def test_namespaced_installs_grant_only_inside_the_watched_namespaces(tmp_path: Path) -> None:
    identity = rbac_support.chart_identity({"watchNamespaces": ["default"]})
    with kube_support.dev_cluster(
        authorizer=rbac_support.authorizer(identity), namespaces=("default", "elsewhere")
    ) as cluster:
        kube = Kube.from_config(str(rbac_support.kubeconfig(cluster.url, tmp_path / "operator")))
        kube.apply(_config_map("inside"))
        with pytest.raises(errors.PluginUnavailable, match="not allowed"):
            kube.apply({**_config_map("outside"), "metadata": {"name": "outside", "namespace": "elsewhere"}})
        kube.close()


@pytest.mark.parametrize(
    ("method", "name", "params", "expected"),
    [
        ("GET", "x", {}, "get"),
        ("GET", None, {}, "list"),
        ("GET", None, {"watch": "true"}, "watch"),
        ("POST", None, {}, "create"),
        ("PUT", "x", {}, "update"),
        ("PATCH", "x", {}, "patch"),
        ("DELETE", "x", {}, "delete"),
        ("DELETE", None, {}, "deletecollection"),
    ],
)
def test_requests_map_to_rbac_verbs(method: str, name: str | None, params: dict, expected: str) -> None:
    target = rbac.wire.Target(group="", version="v1", plural="secrets", namespace="default", name=name)

    assert rbac.verb(method, target, params) == expected


def test_status_is_a_subresource_of_its_own() -> None:
    identity = rbac.Identity.bound(
        "u", {"rules": [{"apiGroups": [models.GROUP], "resources": ["plugins"], "verbs": ["patch"]}]}
    )
    main = rbac.wire.Target(group=models.GROUP, version="v1alpha1", plural="plugins", namespace="default", name="p")
    status = rbac.wire.Target(**{**main.__dict__, "subresource": "status"})

    assert identity.allows("patch", main) and not identity.allows("patch", status)
