"""Least privilege: the ClusterRole grants exactly what the operator calls; bindings follow watchNamespaces."""

from __future__ import annotations

from typing import Any

from . import helm

ALL = ["get", "list", "watch", "create", "patch", "update", "delete"]

#: (apiGroup, resource) → verbs: the operator's whole footprint on the Kubernetes API.
EXPECTED = {
    ("analytics.hyperspot.io", "plugins"): ["get", "list", "watch", "patch", "update", "delete"],
    ("analytics.hyperspot.io", "plugins/status"): ["get", "patch", "update"],
    ("", "events"): ["create", "patch"],
    ("apps", "deployments"): ALL,
    ("", "services"): ALL,
    ("", "configmaps"): ALL,
    ("", "pods"): ["get", "list"],
    ("networking.k8s.io", "networkpolicies"): ALL,
    ("", "secrets"): ["get", "list", "watch", "create", "patch", "delete"],
    ("", "namespaces"): ["list", "watch"],
}


def _rules_table(role: dict[str, Any]) -> dict[tuple[str, str], list[str]]:
    table: dict[tuple[str, str], list[str]] = {}
    for rule in role["rules"]:
        assert set(rule) == {"apiGroups", "resources", "verbs"}, "no resourceNames/nonResourceURLs expected"
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                assert (group, resource) not in table, f"{group}/{resource} granted twice"
                table[(group, resource)] = rule["verbs"]
    return table


def _by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind]


def test_cluster_role_rules_equal_the_expected_table(minimal: dict[str, Any]) -> None:
    [role] = _by_kind(helm.render_chart(minimal), "ClusterRole")

    assert _rules_table(role) == EXPECTED


def test_no_wildcards_anywhere(minimal: dict[str, Any]) -> None:
    [role] = _by_kind(helm.render_chart(minimal), "ClusterRole")

    for rule in role["rules"]:
        assert "*" not in [*rule["apiGroups"], *rule["resources"], *rule["verbs"]]


def test_cluster_wide_install_binds_the_role_to_the_service_account(minimal: dict[str, Any]) -> None:
    objects = helm.render_chart(minimal)
    kinds = ("ClusterRole", "ClusterRoleBinding", "ServiceAccount")
    [role], [binding], [account] = (_by_kind(objects, kind) for kind in kinds)

    assert [b["roleRef"]["kind"] for b in _by_kind(objects, "RoleBinding")] == ["Role"]  # the Lease's only
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": account["metadata"]["namespace"]}
    ]


def test_namespaced_install_grants_only_inside_the_watched_namespaces(minimal: dict[str, Any]) -> None:
    objects = helm.render_chart({**minimal, "watchNamespaces": ["analytics", "team-b"]})
    [role], [account] = _by_kind(objects, "ClusterRole"), _by_kind(objects, "ServiceAccount")
    bindings = [b for b in _by_kind(objects, "RoleBinding") if b["roleRef"]["kind"] == "ClusterRole"]

    assert not _by_kind(objects, "ClusterRoleBinding")
    assert sorted(binding["metadata"]["namespace"] for binding in bindings) == ["analytics", "team-b"]
    for binding in bindings:
        assert binding["roleRef"]["name"] == role["metadata"]["name"]
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": helm.NAMESPACE}
        ]


def test_two_releases_in_different_namespaces_do_not_share_cluster_objects(minimal: dict[str, Any]) -> None:
    first = helm.render_chart(minimal, namespace="analytics-a")
    second = helm.render_chart(minimal, namespace="analytics-b")

    for kind in ("ClusterRole", "ClusterRoleBinding"):
        assert _by_kind(first, kind)[0]["metadata"]["name"] != _by_kind(second, kind)[0]["metadata"]["name"]


def test_the_leader_lease_is_granted_only_in_the_release_namespace(minimal: dict[str, Any]) -> None:
    """Leader election needs one Lease, named after the release, in the release's namespace."""
    for overrides in ({}, {"watchNamespaces": ["analytics"]}):
        objects = helm.render_chart({**minimal, **overrides})
        [role] = _by_kind(objects, "Role")
        [binding] = [b for b in _by_kind(objects, "RoleBinding") if b["roleRef"]["kind"] == "Role"]
        [account] = _by_kind(objects, "ServiceAccount")

        assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == helm.NAMESPACE
        assert role["rules"] == [
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
            {
                "apiGroups": ["coordination.k8s.io"],
                "resources": ["leases"],
                "resourceNames": [helm.RELEASE],
                "verbs": ["get", "update"],
            },
        ]
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": role["metadata"]["name"],
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": helm.NAMESPACE}
        ]
