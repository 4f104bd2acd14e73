"""The plugin's NetworkPolicy: callers from hyperspot-analytics only, egress to its own backends and DNS only."""

from __future__ import annotations

from typing import Any

from plugin_operator import render

from . import samples

DNS_RULE = {
    "to": [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ],
    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
}


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """matchLabels and the NotIn/In expressions the policy uses, evaluated like the API server does."""
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        present = labels.get(expression["key"]) in expression["values"]
        if (expression["operator"] == "In") is not present:
            return False
    return True


def _pod_labels(inputs: render.RenderInputs) -> dict[str, str]:
    return render.deployment(inputs)["spec"]["template"]["metadata"]["labels"]


def test_policy_confines_every_version_of_this_plugin_and_no_other() -> None:
    policy = render.network_policy(samples.make_inputs())
    selector = policy["spec"]["podSelector"]

    assert policy["metadata"]["name"] == "prometheus-adapter"
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert _selects(selector, _pod_labels(samples.make_inputs(version="1.4.2")))
    assert _selects(selector, _pod_labels(samples.make_inputs(version="0.9.0+old")))
    assert not _selects(selector, _pod_labels(samples.make_inputs(cr_name="elasticsearch-adapter")))


def test_ingress_only_on_8080_from_analytics_pods_that_are_not_plugin_runtimes() -> None:
    [rule] = render.network_policy(samples.make_inputs())["spec"]["ingress"]
    [peer] = rule["from"]

    assert rule["ports"] == [{"protocol": "TCP", "port": 8080}]
    assert peer["namespaceSelector"] == {}
    executor = {"app.kubernetes.io/name": "query-executor", "app.kubernetes.io/part-of": "hyperspot-analytics"}
    operator = {**executor, "app.kubernetes.io/name": "plugin-operator", "app.kubernetes.io/component": "operator"}
    assert _selects(peer["podSelector"], executor)
    assert _selects(peer["podSelector"], operator)
    assert not _selects(peer["podSelector"], {"app.kubernetes.io/name": "curl"})
    assert not _selects(peer["podSelector"], _pod_labels(samples.make_inputs(cr_name="elasticsearch-adapter")))


def test_egress_is_dns_plus_the_declared_backends_exactly() -> None:
    egress = render.network_policy(samples.make_inputs())["spec"]["egress"]

    assert egress == [
        DNS_RULE,
        {"to": [{"ipBlock": {"cidr": "10.0.12.0/24"}}], "ports": [{"protocol": "TCP", "port": 9090}]},
        {
            "to": [
                {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
                }
            ],
            "ports": [{"protocol": "TCP", "port": 9090}, {"protocol": "TCP", "port": 9091}],
        },
    ]


def test_a_plugin_without_backends_may_only_resolve_names() -> None:
    spec = samples.make_spec(egress=[])

    assert render.network_policy(samples.make_inputs(spec))["spec"]["egress"] == [DNS_RULE]


def test_one_plugin_cannot_reach_another_plugins_backend() -> None:
    elastic = samples.make_spec(
        pluginId="elasticsearch-adapter",
        adapter="elasticsearch",
        contractFormat="elasticsearch",
        egress=[{"namespace": "search", "podLabels": {"app": "elasticsearch"}, "ports": [9200]}],
    )
    prometheus_egress = render.network_policy(samples.make_inputs())["spec"]["egress"]
    elastic_inputs = samples.make_inputs(elastic, cr_name="elasticsearch-adapter")
    elastic_egress = render.network_policy(elastic_inputs)["spec"]["egress"]

    shared = [rule for rule in prometheus_egress if rule in elastic_egress]
    assert shared == [DNS_RULE]


def test_egress_rule_shapes() -> None:
    spec = samples.make_spec(
        egress=[
            {"cidr": "192.168.0.0/16"},
            {"namespace": "db"},
            {"podLabels": {"app": "cache"}, "ports": [6379]},
            {"cidr": "10.1.0.0/16", "namespace": "legacy", "ports": [443]},
        ]
    )

    egress = render.network_policy(samples.make_inputs(spec))["spec"]["egress"]
    _, everything, namespace, same_namespace_pods, both = egress

    assert everything == {"to": [{"ipBlock": {"cidr": "192.168.0.0/16"}}]}
    assert namespace == {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "db"}}}]}
    assert same_namespace_pods == {
        "to": [{"podSelector": {"matchLabels": {"app": "cache"}}}],
        "ports": [{"protocol": "TCP", "port": 6379}],
    }
    assert both["to"] == [
        {"ipBlock": {"cidr": "10.1.0.0/16"}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "legacy"}}},
    ]
