"""The runtimes' NetworkPolicy admits the operator and the configured executors, nobody else —
in particular not a pod in another namespace that copies their labels."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kubernetes_validate
import pytest

from plugin_operator import desired
from plugin_operator.settings import OperatorSettings

from . import samples

OPERATOR = {"app.kubernetes.io/name": "plugin-operator", "app.kubernetes.io/part-of": "hyperspot-analytics"}
EXECUTOR = {"app": "query-executor"}


def _matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Kubernetes label-selector semantics for matchLabels and In/NotIn/Exists expressions."""
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
    return True


def admitted(policy: Mapping[str, Any], *, namespace: str, pod_labels: Mapping[str, str]) -> bool:
    """Whether a pod may open a connection to the policy's pods (NetworkPolicy ingress semantics:
    a peer with namespaceSelector and podSelector needs both; an absent selector is the policy's
    own namespace / all pods)."""
    namespace_labels = {"kubernetes.io/metadata.name": namespace}  # set by the API server, not forgeable
    for rule in policy["spec"]["ingress"]:
        for peer in rule["from"]:
            in_namespace = (
                _matches(peer["namespaceSelector"], namespace_labels)
                if "namespaceSelector" in peer
                else namespace == policy["metadata"]["namespace"]
            )
            if in_namespace and _matches(peer.get("podSelector", {}), pod_labels):
                return True
    return False


def _policy(**settings: Any) -> dict[str, Any]:
    target = desired.target(OperatorSettings(driver="kubernetes", **settings))
    instance = samples.make_instance(target=target)
    (policy,) = [o for o in instance.shared_objects() if o["kind"] == "NetworkPolicy"]
    return policy


@pytest.mark.parametrize(
    ("namespace", "labels", "expected"),
    [
        ("platform", OPERATOR, True),  # the operator, in its namespace
        ("analytics-query", EXECUTOR, True),  # a configured executor
        ("analytics-query", {**EXECUTOR, "extra": "x"}, True),
        ("tenant-a", OPERATOR, False),  # same labels, another namespace
        ("tenant-a", EXECUTOR, False),
        ("analytics-query", {"app": "something-else"}, False),  # right namespace, not an executor
        ("platform", {"app.kubernetes.io/part-of": "hyperspot-analytics"}, False),  # part-of alone is not enough
        ("analytics", EXECUTOR, False),  # the plugin's own namespace is not trusted by default
    ],
)
def test_ingress_admits_only_the_operator_and_configured_executors(
    namespace: str, labels: dict[str, str], expected: bool
) -> None:
    policy = _policy(
        operator_namespace="platform",
        executor_namespaces=("analytics-query",),
        executor_pod_labels=(("app", "query-executor"),),
    )
    kubernetes_validate.validate(policy, "1.33", strict=True)
    assert admitted(policy, namespace=namespace, pod_labels=labels) is expected


def test_without_executors_only_the_operator_is_admitted() -> None:
    policy = _policy(operator_namespace="platform")
    assert admitted(policy, namespace="platform", pod_labels=OPERATOR)
    assert not admitted(policy, namespace="anything", pod_labels=EXECUTOR)
    assert len(policy["spec"]["ingress"][0]["from"]) == 1


def test_executor_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUGIN_OPERATOR_NAMESPACE", "platform")
    monkeypatch.setenv("PLUGIN_OPERATOR_EXECUTOR_NAMESPACES", "q1,q2")
    monkeypatch.setenv("PLUGIN_OPERATOR_EXECUTOR_POD_LABELS", "app=query-executor, tier=api")
    settings = OperatorSettings.from_env()
    assert settings.operator_namespace == "platform"
    assert settings.executor_namespaces == ("q1", "q2")
    assert settings.executor_pod_labels == (("app", "query-executor"), ("tier", "api"))
    monkeypatch.setenv("PLUGIN_OPERATOR_EXECUTOR_POD_LABELS", "broken")
    with pytest.raises(ValueError, match="key=value"):
        OperatorSettings.from_env()
