"""The resource types the dev cluster serves: built-in kinds the operator touches, and CRD-defined kinds.

A resource type carries what discovery, tables, validation and the write rules need. Custom kinds are
derived from a CustomResourceDefinition object (`from_crd`), so the Plugin kind is described once,
by `plugin_operator.crd.crd()`, and a `kubectl apply -f crds/plugins.yaml` re-declares it the same way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from plugin_devcluster import schemas

#: The verbs every served resource allows (there is no RBAC in the dev cluster).
VERBS = ("create", "delete", "get", "list", "patch", "update", "watch")


@dataclasses.dataclass(frozen=True)
class Column:
    """One printer column (`additionalPrinterColumns` of a CRD, or the built-in equivalent)."""

    name: str
    type: str
    json_path: str
    description: str = ""
    priority: int = 0
    format: str = ""

    @classmethod
    def from_crd(cls, column: Mapping[str, Any]) -> Column:
        return cls(
            name=column["name"],
            type=column["type"],
            json_path=column["jsonPath"],
            description=column.get("description", ""),
            priority=column.get("priority", 0),
            format=column.get("format", ""),
        )


AGE = Column("Age", "date", ".metadata.creationTimestamp", "Time since the object was created.")


@dataclasses.dataclass(frozen=True)
class ResourceType:
    """A served group/version/plural and everything the server knows about it."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status_subresource: bool = False
    #: Columns after Name; `kubectl get` shows them (a CRD without printer columns gets Age).
    columns: tuple[Column, ...] = (AGE,)
    #: The structural openAPIV3Schema enforced on writes; None for built-in kinds (not validated).
    schema: schemas.Schema | None = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """The `group/version/plural` notation kmock uses for resources (`v1/plural` for the core group)."""
        return f"{self.api_version}/{self.plural}"

    @property
    def qualified_name(self) -> str:
        """`plural.group` as in API error messages (`plugins.analytics.hyperspot.io "x" not found`)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()


def from_crd(crd: Mapping[str, Any]) -> list[ResourceType]:
    """Every served version of a CustomResourceDefinition object, as resource types."""
    spec = crd["spec"]
    names = spec["names"]
    return [
        ResourceType(
            group=spec["group"],
            version=version["name"],
            plural=names["plural"],
            kind=names["kind"],
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            singular=names.get("singular", ""),
            short_names=tuple(names.get("shortNames", ())),
            categories=tuple(names.get("categories", ())),
            status_subresource="status" in version.get("subresources", {}),
            columns=tuple(Column.from_crd(c) for c in version.get("additionalPrinterColumns", ())) or (AGE,),
            schema=schemas.Schema(version["schema"]["openAPIV3Schema"]) if "schema" in version else None,
        )
        for version in spec["versions"]
        if version.get("served", True)
    ]


def api_resource_list(served: Iterable[ResourceType], group: str, version: str) -> dict[str, Any]:
    """Discovery of one group/version (`/apis/<group>/<version>`, `/api/v1`); subresources get no short
    names, or kubectl warns that a short name might mean the subresource."""
    entries: list[dict[str, Any]] = []
    for resource in sorted(served, key=lambda t: t.plural):
        common = {"kind": resource.kind, "namespaced": resource.namespaced}
        entries.append(
            {
                **common,
                "name": resource.plural,
                "singularName": resource.singular_name,
                "shortNames": list(resource.short_names),
                "categories": list(resource.categories),
                "verbs": list(VERBS),
            }
        )
        if resource.status_subresource:
            entries.append(
                {**common, "name": f"{resource.plural}/status", "singularName": "", "verbs": ["get", "patch", "update"]}
            )
    group_version = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": entries}


def _column(name: str, json_path: str, type_: str = "string", priority: int = 0) -> Column:
    return Column(name, type_, json_path, priority=priority)


#: The built-in kinds the operator, kopf and kubectl touch; columns mimic the real server's tables.
BUILTINS: tuple[ResourceType, ...] = (
    ResourceType(
        "",
        "v1",
        "namespaces",
        "Namespace",
        namespaced=False,
        short_names=("ns",),
        status_subresource=True,
        columns=(_column("Status", ".status.phase"), AGE),
    ),
    ResourceType(
        "",
        "v1",
        "events",
        "Event",
        short_names=("ev",),
        columns=(
            _column("Last Seen", ".lastTimestamp", "date"),
            _column("Type", ".type"),
            _column("Reason", ".reason"),
            _column("Object", ".involvedObject.name"),
            _column("Message", ".message"),
        ),
    ),
    ResourceType("", "v1", "secrets", "Secret", columns=(_column("Type", ".type"), AGE)),
    ResourceType("", "v1", "configmaps", "ConfigMap", short_names=("cm",)),
    ResourceType(
        "",
        "v1",
        "services",
        "Service",
        short_names=("svc",),
        categories=("all",),
        status_subresource=True,
        columns=(_column("Type", ".spec.type"), _column("Cluster-IP", ".spec.clusterIP"), AGE),
    ),
    ResourceType(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        short_names=("deploy",),
        categories=("all",),
        status_subresource=True,
        columns=(
            _column("Replicas", ".spec.replicas", "integer"),
            _column("Available", ".status.availableReplicas", "integer"),
            AGE,
            _column("Image", ".spec.template.spec.containers[0].image", priority=1),
        ),
    ),
    ResourceType(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        short_names=("rs",),
        categories=("all",),
        status_subresource=True,
        columns=(
            _column("Desired", ".spec.replicas", "integer"),
            _column("Current", ".status.replicas", "integer"),
            _column("Ready", ".status.readyReplicas", "integer"),
            AGE,
        ),
    ),
    ResourceType(
        "",
        "v1",
        "pods",
        "Pod",
        short_names=("po",),
        categories=("all",),
        status_subresource=True,
        columns=(
            _column("Status", ".status.phase"),
            _column("Restarts", ".status.containerStatuses[0].restartCount", "integer"),
            AGE,
            _column("Reason", ".status.containerStatuses[0].state.waiting.reason", priority=1),
        ),
    ),
    ResourceType("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", short_names=("netpol",)),
    ResourceType(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
        short_names=("crd", "crds"),
        status_subresource=True,
    ),
    ResourceType(
        "coordination.k8s.io", "v1", "leases", "Lease", columns=(_column("Holder", ".spec.holderIdentity"), AGE)
    ),
)

CRDS = next(t for t in BUILTINS if t.plural == "customresourcedefinitions")
NAMESPACES = next(t for t in BUILTINS if t.plural == "namespaces")
EVENTS = next(t for t in BUILTINS if t.plural == "events")
SECRETS = next(t for t in BUILTINS if t.plural == "secrets")
CONFIGMAPS = next(t for t in BUILTINS if t.plural == "configmaps")
SERVICES = next(t for t in BUILTINS if t.plural == "services")
DEPLOYMENTS = next(t for t in BUILTINS if t.plural == "deployments")
REPLICASETS = next(t for t in BUILTINS if t.plural == "replicasets")
PODS = next(t for t in BUILTINS if t.plural == "pods")
NETWORK_POLICIES = next(t for t in BUILTINS if t.plural == "networkpolicies")
LEASES = next(t for t in BUILTINS if t.plural == "leases")
