"""Where a pod may connect, read from the NetworkPolicies that select it, as the embedded fence can hold it.

The fence (`containers.Endpoint`) admits single hosts on TCP ports. A Kubernetes CNI enforces more
(CIDR ranges, pod and namespace peers, UDP, every port); whatever a policy allows that the fence
cannot express is returned as a warning (the kubelet posts it as a Warning Event) and left out —
never widened into something the policy did not say. Cluster DNS (the kube-dns peer every runtime
policy carries) is the node's business here, so it is neither an endpoint nor a warning.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from plugin_devcluster import selectors
from plugin_devcluster.containers import Endpoint

__all__ = ["Egress", "egress"]

_KUBE_DNS = {"k8s-app": "kube-dns"}


@dataclasses.dataclass(frozen=True)
class Egress:
    endpoints: tuple[Endpoint, ...]
    warnings: tuple[str, ...]


def _selects(policy: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    spec = policy.get("spec") or {}
    types = spec.get("policyTypes") or (["Ingress", "Egress"] if "egress" in spec else ["Ingress"])
    return "Egress" in types and selectors.label_selector_matches(spec.get("podSelector") or {}, labels)


def _is_dns(peer: Mapping[str, Any]) -> bool:
    pod_labels = (peer.get("podSelector") or {}).get("matchLabels") or {}
    return "ipBlock" not in peer and pod_labels == _KUBE_DNS


def _host(peer: Mapping[str, Any], policy: str) -> tuple[str | None, str | None]:
    """The single host of an ipBlock peer, or why the fence cannot hold the peer."""
    block = peer.get("ipBlock")
    if block is None:
        return None, f"NetworkPolicy {policy}: pod/namespace selector peers are not reachable from embedded pods"
    try:
        network = ipaddress.ip_network(block["cidr"], strict=False)
    except ValueError:
        return None, f"NetworkPolicy {policy}: invalid cidr {block.get('cidr')!r}"
    if network.num_addresses != 1:
        why = f"cidr {block['cidr']} is wider than one host; the embedded fence admits single hosts only"
        return None, f"NetworkPolicy {policy}: {why}"
    if block.get("except"):
        return None, f"NetworkPolicy {policy}: ipBlock except lists are not supported by the embedded fence"
    return str(network.network_address), None


def _ports(rule: Mapping[str, Any], policy: str) -> tuple[list[int], list[str]]:
    ports, warnings = [], []
    if not rule.get("ports"):
        return [], [f"NetworkPolicy {policy}: a rule without ports (every port) is not supported by the embedded fence"]
    for entry in rule["ports"]:
        protocol, port = entry.get("protocol", "TCP"), entry.get("port")
        if protocol != "TCP" or not isinstance(port, int) or entry.get("endPort") is not None:
            warnings.append(f"NetworkPolicy {policy}: port {protocol}/{port} is not supported by the embedded fence")
            continue
        ports.append(port)
    return ports, warnings


def egress(policies: Iterable[Mapping[str, Any]], labels: Mapping[str, str]) -> Egress:
    """The endpoints every policy selecting a pod with `labels` allows (their union), and the warnings."""
    endpoints: dict[Endpoint, None] = {}
    warnings: list[str] = []
    for policy in policies:
        if not _selects(policy, labels):
            continue
        name = policy["metadata"]["name"]
        for rule in (policy.get("spec") or {}).get("egress") or []:
            peers = [peer for peer in rule.get("to") or [] if not _is_dns(peer)]
            if not peers and rule.get("to"):
                continue  # cluster DNS only
            if not rule.get("to"):
                warnings.append(f"NetworkPolicy {name}: a rule without peers (every destination) is not supported")
                continue
            ports, port_warnings = _ports(rule, name)
            warnings += port_warnings
            for peer in peers:
                host, why = _host(peer, name)
                if host is None:
                    warnings.append(str(why))
                    continue
                endpoints.update((Endpoint(host, port), None) for port in ports)
    return Egress(tuple(endpoints), tuple(dict.fromkeys(warnings)))
