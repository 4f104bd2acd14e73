"""The operator's identity on the dev cluster: exactly what the Helm chart grants its ServiceAccount.

    identity = rbac.chart_identity()                      # ClusterRole + bindings of `helm template`
    with kube.dev_cluster(authorizer=rbac.authorizer(identity)) as cluster:
        operator_kubeconfig = rbac.kubeconfig(cluster, tmp / "operator-kubeconfig")

A verb missing from the chart is then a 403 for the operator, as on a real cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from plugin_devcluster import rbac, write_kubeconfig
from tests.chart import conftest as chart_conftest
from tests.chart import helm

#: The bearer token the operator's kubeconfig carries (only the dev cluster knows it).
OPERATOR_TOKEN = "plugin-operator-serviceaccount"


def chart_identity(overrides: Mapping[str, Any] | None = None) -> rbac.Identity:
    """The chart's ServiceAccount with the rules of its ClusterRole, bound where the chart binds it."""
    objects = helm.render_chart({**chart_conftest.MINIMAL, **(overrides or {})})
    [account] = [o for o in objects if o["kind"] == "ServiceAccount"]
    [role] = [o for o in objects if o["kind"] == "ClusterRole"]
    user = f"system:serviceaccount:{account['metadata']['namespace']}:{account['metadata']['name']}"

    def binds_account(binding: dict[str, Any]) -> bool:
        return binding["roleRef"]["name"] == role["metadata"]["name"] and any(
            s["kind"] == "ServiceAccount" and s["name"] == account["metadata"]["name"] for s in binding["subjects"]
        )

    cluster_bindings = [o for o in objects if o["kind"] == "ClusterRoleBinding" and binds_account(o)]
    namespaced = [o["metadata"]["namespace"] for o in objects if o["kind"] == "RoleBinding" and binds_account(o)]
    identity = (
        rbac.Identity.bound(user, role) if cluster_bindings else rbac.Identity.bound(user, role, namespaces=namespaced)
    )
    # Namespaced Roles (the leader-election Lease) bound to the account, each in its binding's namespace.
    roles = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects if o["kind"] == "Role"}
    for binding in objects:
        ref = binding.get("roleRef") or {}
        if binding["kind"] == "RoleBinding" and ref.get("kind") == "Role":
            namespace = binding["metadata"]["namespace"]
            if any(
                s["kind"] == "ServiceAccount" and s["name"] == account["metadata"]["name"] for s in binding["subjects"]
            ):
                identity = identity.with_role(namespace, roles[(namespace, ref["name"])])
    return identity


def authorizer(identity: rbac.Identity) -> rbac.Authorizer:
    return rbac.Authorizer({OPERATOR_TOKEN: identity})


def kubeconfig(url: str, path: Path) -> Path:
    """A kubeconfig for the operator's identity (kubectl keeps the admin one)."""
    return write_kubeconfig(url, path, token=OPERATOR_TOKEN)
