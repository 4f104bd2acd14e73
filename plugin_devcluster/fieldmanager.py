"""Server-side apply (`PATCH` with `application/apply-patch+yaml`), enough for one field manager per object.

What is emulated: an apply creates a missing object; on an existing one the applied configuration is
merged in (objects merge key by key, lists and scalars replace), and every field the same manager
applied before but leaves out now is removed — the property an operator relies on to drop a
setting by no longer rendering it. The manager's fields are recorded in `metadata.managedFields`
(FieldsV1, lists as atomic leaves).

Not emulated: conflicts between managers (every apply behaves as `force=true`), merge keys inside
lists (`containers` by name and the like: a list is owned whole by its last applier), and field
ownership of other operations (their entries are left as they are).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from plugin_devcluster import statuses

MEDIA_TYPE = "application/apply-patch+yaml"
#: Metadata the server owns: never part of an applier's fields.
_SERVER_METADATA = frozenset(
    {"uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp", "managedFields", "selfLink"}
)


def fields(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The FieldsV1 set of an applied configuration: `f:<key>` per object key, lists and scalars as leaves."""
    owned: dict[str, Any] = {}
    for key, value in obj.items():
        if key == "status" or key in ("apiVersion", "kind"):
            continue
        if key == "metadata" and isinstance(value, Mapping):
            value = {k: v for k, v in value.items() if k not in _SERVER_METADATA | {"name", "namespace"}}
        owned[f"f:{key}"] = fields(value) if isinstance(value, Mapping) else {}
    return owned


def applied(current: Mapping[str, Any] | None, configuration: Any, *, manager: str | None, now: str) -> dict[str, Any]:
    """The object after `manager` applies `configuration` to `current` (None: the object is new)."""
    if not manager:
        raise statuses.bad_request("PATCH with apply-patch+yaml requires the fieldManager query parameter")
    if not isinstance(configuration, Mapping):
        raise statuses.bad_request("an applied configuration must be an object")
    configuration = {k: v for k, v in configuration.items() if k != "status"}
    base = copy.deepcopy(dict(current or {}))
    entries = list((base.get("metadata") or {}).get("managedFields") or [])
    earlier = next((e for e in entries if _is_apply_of(e, manager)), None)
    previous = (earlier or {}).get("fieldsV1") or {}
    new_fields = fields(configuration)
    result: dict[str, Any] = _merge(base, configuration)  # both are objects, so the merge is one
    _prune(result, previous, new_fields)
    entry = {
        "manager": manager,
        "operation": "Apply",
        "apiVersion": configuration.get("apiVersion", ""),
        # An apply that changes nothing leaves the object as it was (no new resourceVersion).
        "time": earlier["time"]
        if earlier is not None and previous == new_fields and _merge(base, configuration) == base
        else now,
        "fieldsType": "FieldsV1",
        "fieldsV1": new_fields,
    }
    result.setdefault("metadata", {})["managedFields"] = [e for e in entries if not _is_apply_of(e, manager)] + [entry]
    return result


def _is_apply_of(entry: Mapping[str, Any], manager: str) -> bool:
    return entry.get("manager") == manager and entry.get("operation") == "Apply"


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, Mapping) or not isinstance(target, Mapping):
        return copy.deepcopy(patch)
    merged = dict(target)
    for key, value in patch.items():
        merged[key] = _merge(merged.get(key), value)
    return merged


def _prune(obj: dict[str, Any], previous: Mapping[str, Any], current: Mapping[str, Any]) -> None:
    """Remove what the manager owned before and no longer applies."""
    for field, below in previous.items():
        key = field.removeprefix("f:")
        if key not in obj:
            continue
        if field not in current:
            del obj[key]
        elif below and isinstance(obj[key], dict):
            _prune(obj[key], below, current[field])
