"""RBAC for chosen identities: a bearer token mapped to the rules of a ClusterRole and where they are bound.

The tests give the operator's token exactly the rules the Helm chart grants (its rendered
ClusterRole and bindings), so a verb the chart forgets is a 403 in a test, as on a real cluster.
Any other caller (kubectl in the tests, `make run`) is a cluster admin.

Emulated: `apiGroups`/`resources`/`verbs` rules with `*`, subresources (`plugins/status`),
`resourceNames`, bindings cluster-wide or in listed namespaces, namespaced Roles, and the verbs a request maps to
(get, list, watch, create, update, patch — server-side apply included —, delete, deletecollection).
Not emulated: aggregation, non-resource URLs (discovery and OpenAPI are open to everyone, as
`system:discovery` makes them for any authenticated user), impersonation, escalation checks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from plugin_devcluster import statuses, wire


@dataclasses.dataclass(frozen=True)
class Rule:
    api_groups: frozenset[str]
    resources: frozenset[str]
    verbs: frozenset[str]
    resource_names: frozenset[str] = frozenset()

    @classmethod
    def from_policy(cls, rule: Mapping[str, Any]) -> Rule:
        return cls(
            api_groups=frozenset(rule.get("apiGroups") or ()),
            resources=frozenset(rule.get("resources") or ()),
            verbs=frozenset(rule.get("verbs") or ()),
            resource_names=frozenset(rule.get("resourceNames") or ()),
        )

    def allows(self, verb: str, group: str, resource: str, name: str | None) -> bool:
        return (
            bool({verb, "*"} & self.verbs)
            and bool({group, "*"} & self.api_groups)
            and bool({resource, "*"} & self.resources)
            and (not self.resource_names or name in self.resource_names)
        )


@dataclasses.dataclass(frozen=True)
class Identity:
    """Who a token is, and what it may do: `namespaces` None is a ClusterRoleBinding, else RoleBindings."""

    user: str
    rules: tuple[Rule, ...]
    namespaces: frozenset[str] | None = None
    #: Rules of namespaced Roles, each granted only in its RoleBinding's namespace.
    role_rules: tuple[tuple[str, Rule], ...] = ()

    @classmethod
    def bound(cls, user: str, cluster_role: Mapping[str, Any], namespaces: Iterable[str] | None = None) -> Identity:
        rules = tuple(Rule.from_policy(rule) for rule in cluster_role.get("rules") or ())
        return cls(user=user, rules=rules, namespaces=None if namespaces is None else frozenset(namespaces))

    def with_role(self, namespace: str, role: Mapping[str, Any]) -> Identity:
        """This identity plus a Role's rules, bound (by a RoleBinding) in `namespace`."""
        granted = tuple((namespace, Rule.from_policy(rule)) for rule in role.get("rules") or ())
        return dataclasses.replace(self, role_rules=self.role_rules + granted)

    def allows(self, verb: str, target: wire.Target) -> bool:
        resource = f"{target.plural}/{target.subresource}" if target.subresource else target.plural
        if any(
            namespace == target.namespace and rule.allows(verb, target.group, resource, target.name)
            for namespace, rule in self.role_rules
        ):
            return True
        if self.namespaces is not None and target.namespace not in self.namespaces:
            return False
        return any(rule.allows(verb, target.group, resource, target.name) for rule in self.rules)


def verb(method: str, target: wire.Target, params: Mapping[str, str]) -> str:
    """The RBAC verb of a resource request."""
    if method == "GET":
        if params.get("watch") in ("true", "1"):
            return "watch"
        return "get" if target.name is not None else "list"
    if method == "DELETE" and target.name is None:
        return "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method, method.lower())


class Authorizer:
    """Checks requests of the restricted identities; other callers are admins.

    An identity is picked by its bearer token (the Python client sends it; kubectl sends no token
    over plain HTTP) or, as an admin's `kubectl --as=<user>` does, by the `Impersonate-User` header.
    """

    def __init__(self, identities: Mapping[str, Identity]) -> None:
        self._by_token = dict(identities)
        self._by_user = {identity.user: identity for identity in identities.values()}

    def check(self, headers: Mapping[str, str], method: str, target: wire.Target, params: Mapping[str, str]) -> None:
        token = headers.get("Authorization", "").removeprefix("Bearer ").strip()
        identity = self._by_token.get(token) or self._by_user.get(headers.get("Impersonate-User", ""))
        if identity is None:
            return
        requested = verb(method, target, params)
        if identity.allows(requested, target):
            return
        resource = f"{target.plural}/{target.subresource}" if target.subresource else target.plural
        what = f'{resource} "{target.name}"' if target.name else resource
        where = f' in the namespace "{target.namespace}"' if target.namespace else " at the cluster scope"
        raise statuses.ApiError(
            403,
            "Forbidden",
            f'{what} is forbidden: User "{identity.user}" cannot {requested} resource "{resource}" '
            f'in API group "{target.group}"{where}',
            {"name": target.name or "", "group": target.group, "kind": target.plural},
        )
