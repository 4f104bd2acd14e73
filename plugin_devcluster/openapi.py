"""Just enough OpenAPI v3 for plain `kubectl apply` and `kubectl explain`.

Before sending anything, `kubectl apply` (validation on by default) reads `/openapi/v3` to learn
whether the server validates fields itself: it looks for a `fieldValidation` query parameter on
the PATCH operation tagged with the object's group/version/kind. When it finds one it sends
`fieldValidation=Strict` and leaves validation to the server (which this dev cluster does against
the CRD schema); otherwise it demands `/openapi/v2` and fails without `--validate=false`.
`kubectl explain` finds the kind's schema in `components.schemas` by the same tag.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from plugin_devcluster import catalogue

_QUERY_PARAMETERS = [
    {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
    for name in ("dryRun", "fieldManager", "fieldValidation")
]


def group_version_path(resource: catalogue.ResourceType) -> str:
    """The key of a group/version in the `/openapi/v3` index: `api/v1` or `apis/<group>/<version>`."""
    return f"apis/{resource.group}/{resource.version}" if resource.group else f"api/{resource.version}"


def _gvk(resource: catalogue.ResourceType) -> dict[str, str]:
    return {"group": resource.group, "version": resource.version, "kind": resource.kind}


def _schema_name(resource: catalogue.ResourceType) -> str:
    reversed_group = ".".join(reversed(resource.group.split("."))) if resource.group else "core"
    return f"{reversed_group}.{resource.version}.{resource.kind}"


def _object_path(resource: catalogue.ResourceType) -> str:
    scope = "/namespaces/{namespace}" if resource.namespaced else ""
    return f"/{group_version_path(resource)}{scope}/{resource.plural}/{{name}}"


def document(resources: Iterable[catalogue.ResourceType]) -> dict[str, Any]:
    """The OpenAPI document of one group/version (all `resources` share it)."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for resource in resources:
        operation = {
            "operationId": f"patch{resource.kind}",
            "parameters": _QUERY_PARAMETERS,
            "responses": {"200": {"description": "OK"}},
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": _gvk(resource),
        }
        paths[_object_path(resource)] = {"patch": operation}
        if resource.schema is not None:
            schemas[_schema_name(resource)] = {
                **resource.schema.openapi,
                "x-kubernetes-group-version-kind": [_gvk(resource)],
            }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def index(resources: Iterable[catalogue.ResourceType]) -> dict[str, Any]:
    """`/openapi/v3`: each group/version's document URL, with a content hash so kubectl's cache refreshes."""
    by_group_version: dict[str, list[catalogue.ResourceType]] = {}
    for resource in resources:
        by_group_version.setdefault(group_version_path(resource), []).append(resource)
    paths = {}
    for path, members in sorted(by_group_version.items()):
        digest = hashlib.sha256(json.dumps(document(members), sort_keys=True).encode()).hexdigest()[:16].upper()
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}
