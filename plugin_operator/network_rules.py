"""The NetworkPolicy rules of a runtime: who may call it, and where it may connect.

Kept apart from `render` (which places them in the NetworkPolicy object) because they are the
security boundary: each rule pins namespaces by name, never by labels a pod could copy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from plugin_operator import models

__all__ = ["IngressPeers", "egress", "ingress"]

_DNS = {
    "to": [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ],
    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
}


@dataclasses.dataclass(frozen=True)
class IngressPeers:
    """Who may call a runtime: the operator's pods in its namespace, and the query executors.

    Every peer pins a namespace *by name* (`kubernetes.io/metadata.name`, set by the API server and
    not forgeable by a pod) and a pod selector, so a pod elsewhere that copies the labels is not let in.
    """

    operator_namespace: str = "hyperspot-analytics"
    operator_labels: Mapping[str, str] = dataclasses.field(
        default_factory=lambda: {"app.kubernetes.io/name": "plugin-operator"}
    )
    executor_namespaces: tuple[str, ...] = ()
    executor_labels: Mapping[str, str] = dataclasses.field(default_factory=dict)


def ingress(peers: IngressPeers, *, port: int) -> dict[str, Any]:
    """The one ingress rule: the operator's pods and the executors, on the runtime's port only."""
    callers = [_peer(peers.operator_namespace, peers.operator_labels)]
    callers += [_peer(namespace, peers.executor_labels) for namespace in peers.executor_namespaces]
    return {"from": callers, "ports": [{"protocol": "TCP", "port": port}]}


def egress(rules: Sequence[models.EgressRule]) -> list[dict[str, Any]]:
    """DNS, then one rule per declared backend (`spec.egress`)."""
    return [_DNS, *(_egress_rule(rule) for rule in rules)]


def _peer(namespace: str, labels: Mapping[str, str]) -> dict[str, Any]:
    return {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
        "podSelector": {"matchLabels": dict(labels)},
    }


def _egress_rule(rule: models.EgressRule) -> dict[str, Any]:
    peers: list[dict[str, Any]] = []
    if rule.cidr is not None:
        peers.append({"ipBlock": {"cidr": rule.cidr}})
    if rule.namespace is not None or rule.pod_labels:
        peer: dict[str, Any] = {}
        if rule.namespace is not None:
            peer["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": rule.namespace}}
        if rule.pod_labels:
            peer["podSelector"] = {"matchLabels": dict(rule.pod_labels)}
        peers.append(peer)
    egress: dict[str, Any] = {"to": peers}
    if rule.ports:
        egress["ports"] = [{"protocol": "TCP", "port": port} for port in rule.ports]
    return egress
