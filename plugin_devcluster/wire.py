"""Reading resource requests: which object a URL addresses, and what a PATCH body turns it into.

kmock's own path parser cannot address Namespace objects (`/api/v1/namespaces` raises, and
`/api/v1/namespaces/x` reads as "namespace x, no resource"), so resource URLs are parsed here.
Patches follow their content type: JSON patch (RFC 6902, what kopf uses for finalizers with a
`test` of the resourceVersion), JSON merge patch (RFC 7386), and strategic merge patch, which is
approximated: `$setElementOrder` lists (what `kubectl apply` sends) merge by their key, other lists
are replaced, and `$`-directives never reach the stored object.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import jsonpatch
import yaml

from plugin_devcluster import fieldmanager, protobuf, statuses

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
#: Subresources of Namespace objects, which would otherwise read as a resource inside a namespace.
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})


@dataclasses.dataclass(frozen=True)
class Target:
    """What a resource URL addresses: a collection (no name), an object, or an object's subresource."""

    group: str
    version: str
    plural: str
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None


def parse_path(path: str) -> Target | None:
    """The addressed resource, or None for discovery and other non-resource paths."""
    parts = [part for part in path.split("/") if part]
    if len(parts) >= 3 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 4 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces" and not (group == "" and rest[2] in _NAMESPACE_SUBRESOURCES):
        namespace, rest = rest[1], rest[2:]
    return Target(
        group=group,
        version=version,
        plural=rest[0],
        namespace=namespace,
        name=rest[1] if len(rest) > 1 else None,
        subresource="/".join(rest[2:]) or None,
    )


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    merged = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if not k.startswith("$")}
    merged = dict(target) if isinstance(target, Mapping) else {}
    orders = {k.split("/", 1)[1]: v for k, v in patch.items() if k.startswith("$setElementOrder/")}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, list) and key in orders:
            merged[key] = _ordered_list(merged.get(key) or [], value, orders[key])
        else:
            merged[key] = strategic_merge_patch(merged.get(key), value)
    for key in orders.keys() - patch.keys():
        merged[key] = _ordered_list(merged.get(key) or [], [], orders[key])
    for key in (k.split("/", 1)[1] for k in patch if k.startswith("$deleteFromPrimitiveList/")):
        dropped = patch[f"$deleteFromPrimitiveList/{key}"]
        merged[key] = [item for item in merged.get(key) or [] if item not in dropped]
    return merged


def _ordered_list(current: list[Any], changes: list[Any], order: list[Any]) -> list[Any]:
    """A list in `$setElementOrder` order: changed elements merged into the current ones by merge key."""
    if not order or not isinstance(order[0], Mapping):
        return list(order)  # a set of scalars: the order lists it whole
    merge_key = next(iter(order[0]))
    existing = {item.get(merge_key): item for item in current if isinstance(item, Mapping)}
    changed = {item.get(merge_key): item for item in changes if isinstance(item, Mapping)}
    merged = []
    for entry in order:
        key = entry[merge_key]
        if key in changed and changed[key].get("$patch") != "delete":
            merged.append(strategic_merge_patch(existing.get(key, {}), changed[key]))
        elif key in existing and key not in changed:
            merged.append(existing[key])
    return merged


def patched(obj: Mapping[str, Any], body: Any, content_type: str, *, what: str) -> dict[str, Any]:
    """The object after applying a PATCH body of the given content type."""
    media_type = content_type.split(";")[0].strip()
    if media_type == JSON_PATCH:
        if not isinstance(body, list):
            raise statuses.bad_request("a JSON patch must be a list of operations")
        try:
            return dict(jsonpatch.apply_patch(dict(obj), body, in_place=False))
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise statuses.ApiError(422, "Invalid", f"the JSON patch cannot be applied to {what}: {exc}") from None
    if not isinstance(body, Mapping):
        raise statuses.bad_request("a merge patch must be a JSON object")
    if media_type == MERGE_PATCH:
        return dict(merge_patch(obj, body))
    if media_type == STRATEGIC_MERGE_PATCH:
        return dict(strategic_merge_patch(obj, body))
    raise statuses.unsupported_media_type(media_type)


def propagation_policy(params: Mapping[str, str], body: Any) -> str:
    """DELETE's propagation policy from the query or the DeleteOptions body (Background by default)."""
    from_body = body.get("propagationPolicy") if isinstance(body, Mapping) else None
    return params.get("propagationPolicy") or from_body or "Background"


def request_body(content_type: str, data: bytes) -> Any:
    """A request body as JSON values: JSON as sent, kubectl's protobuf for the kinds `protobuf` knows."""
    if content_type == protobuf.MEDIA_TYPE:
        return protobuf.decode(data)
    if content_type == fieldmanager.MEDIA_TYPE:
        # Clients (kubectl, the kubernetes client, the operator) send their applied configuration as
        # JSON, a subset of YAML that json parses in a fraction of PyYAML's time (a pool's member
        # table took 50 ms): YAML only when it is not JSON.
        try:
            return json.loads(data) if data else None
        except ValueError:
            pass
        try:
            return yaml.safe_load(data)
        except yaml.YAMLError:
            raise statuses.bad_request("the applied configuration is not valid YAML") from None
    if content_type not in ("application/json", "application/octet-stream") and not content_type.endswith("+json"):
        raise statuses.unsupported_media_type(content_type)
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        raise statuses.bad_request("the request body is not valid JSON") from None
