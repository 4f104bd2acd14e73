"""The API server's rules for writing one object, as pure functions of (old state, request body).

kmock stores bodies as sent; a real server owns parts of every object, and the operator depends on
them: `uid`, `creationTimestamp` and `namespace` are set on create and never change; `generation`
counts changes of everything but metadata and status (so `status.observedGeneration` means
something); with a status subresource, writes to the object cannot touch `status` and writes to
`/status` can touch nothing else; a finalizer blocks deletion, and an object being deleted accepts
no new finalizers. Resource versions are assigned by the server (they need global state).
"""

from __future__ import annotations

import base64
import copy
import datetime
import re
from collections.abc import Mapping
from typing import Any

from plugin_devcluster import catalogue, schemas, statuses

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
#: Metadata only the server writes; clients' values are ignored on update.
_SERVER_METADATA = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation")


def parse_time(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def format_time(moment: datetime.datetime) -> str:
    """RFC 3339 with second precision in UTC, as Kubernetes writes timestamps."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_type(resource: catalogue.ResourceType, body: dict[str, Any]) -> None:
    for field, expected in (("apiVersion", resource.api_version), ("kind", resource.kind)):
        given = body.setdefault(field, expected)
        if given != expected:
            raise statuses.bad_request(
                f"the {field} in the data ({given}) does not match the expected {field} ({expected})"
            )


def _check_name(resource: catalogue.ResourceType, name: str) -> None:
    if len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        message = (
            f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric '
            "characters, '-' or '.', and must start and end with an alphanumeric character"
        )
        raise statuses.invalid(resource, name, [schemas.FieldError("metadata.name", "FieldValueInvalid", message)])


def _server_populated(resource: catalogue.ResourceType, obj: dict[str, Any]) -> None:
    """Fields a real cluster's built-in logic fills in, for the kinds where clients rely on them."""
    if resource == catalogue.SECRETS:
        obj["type"] = obj.get("type") or "Opaque"
        if obj.get("stringData"):
            encoded = {k: base64.b64encode(str(v).encode()).decode() for k, v in obj.pop("stringData").items()}
            obj["data"] = {**(obj.get("data") or {}), **encoded}
    elif resource == catalogue.NAMESPACES:
        labels = obj["metadata"].setdefault("labels", {})
        labels["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
        obj.setdefault("status", {}).setdefault("phase", "Active")
    elif resource == catalogue.CRDS:
        accepted = {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"}
        obj["status"] = {"acceptedNames": obj["spec"]["names"], "conditions": [accepted], "storedVersions": []}


def created(
    resource: catalogue.ResourceType,
    body: Mapping[str, Any],
    *,
    namespace: str | None,
    uid: str,
    now: datetime.datetime,
    name_suffix: str,
) -> dict[str, Any]:
    """The object a create request stores (before admission and the resource version)."""
    obj = copy.deepcopy(dict(body))
    _check_type(resource, obj)
    meta = obj.setdefault("metadata", {})
    if not meta.get("name"):
        if not meta.get("generateName"):
            required = schemas.FieldError(
                "metadata.name", "FieldValueRequired", "Required value: name or generateName is required"
            )
            raise statuses.invalid(resource, "", [required])
        meta["name"] = meta["generateName"] + name_suffix
    _check_name(resource, meta["name"])
    if resource.namespaced:
        if meta.get("namespace", namespace) != namespace:
            raise statuses.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        meta["namespace"] = namespace
    else:
        meta.pop("namespace", None)
    for field in (*_SERVER_METADATA, "resourceVersion"):
        meta.pop(field, None)
    meta.update(uid=uid, creationTimestamp=format_time(now), generation=1)
    if resource.status_subresource:
        obj.pop("status", None)
    _server_populated(resource, obj)
    return obj


def updated(
    resource: catalogue.ResourceType,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    subresource: str | None,
) -> dict[str, Any]:
    """The object an update (PUT, or PATCH already applied to `old`) stores: server-owned parts kept."""
    old_meta = old["metadata"]
    candidate = copy.deepcopy(dict(new))
    _check_type(resource, candidate)
    meta = candidate.setdefault("metadata", {})
    if meta.get("name", old_meta["name"]) != old_meta["name"]:
        raise statuses.bad_request(
            f"the name of the object ({meta['name']}) does not match the name on the URL ({old_meta['name']})"
        )
    if meta.get("resourceVersion", old_meta["resourceVersion"]) != old_meta["resourceVersion"]:
        raise statuses.conflict(resource, old_meta["name"])

    if subresource == "status":
        obj = copy.deepcopy(dict(old))
        obj.pop("status", None)
        if "status" in candidate:
            obj["status"] = candidate["status"]
        return obj

    obj = candidate
    if resource.status_subresource:
        obj.pop("status", None)
        if "status" in old:
            obj["status"] = copy.deepcopy(old["status"])
    meta.update(name=old_meta["name"])
    if resource.namespaced:
        meta.update(namespace=old_meta["namespace"])
    for field in _SERVER_METADATA:
        meta.pop(field, None)
        if field in old_meta:
            meta[field] = old_meta[field]
    added = set(meta.get("finalizers") or ()) - set(old_meta.get("finalizers") or ())
    if old_meta.get("deletionTimestamp") and added:
        message = (
            "Forbidden: no new finalizers can be added if the object is being deleted, "
            f"found new finalizers {sorted(added)}"
        )
        raise statuses.invalid(
            resource, old_meta["name"], [schemas.FieldError("metadata.finalizers", "FieldValueForbidden", message)]
        )
    _server_populated(resource, obj)
    if _content(obj) != _content(old):
        meta["generation"] = old_meta.get("generation", 1) + 1
    return obj


def _content(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What `generation` counts changes of: all but metadata (status cannot differ here when it is a
    subresource: it was restored above, and `/status` writes returned earlier)."""
    return {key: value for key, value in obj.items() if key != "metadata"}


def admitted(
    resource: catalogue.ResourceType, obj: Mapping[str, Any], *, strict: bool
) -> tuple[dict[str, Any], list[str]]:
    """Pruned, defaulted and validated against the resource's schema; returns the warnings to send.

    Undeclared fields are dropped with a warning, or rejected when the client asked for
    `fieldValidation=Strict` (what `kubectl apply` does by default).
    """
    if resource.schema is None:
        return dict(obj), []
    name = obj["metadata"]["name"]
    pruned, unknown = resource.schema.prune(obj)
    if unknown and strict:
        listed = ", ".join(f'unknown field "{path}"' for path in unknown)
        raise statuses.bad_request(
            f'{resource.kind} in version "{resource.version}" cannot be handled as a {resource.kind}: '
            f"strict decoding error: {listed}"
        )
    defaulted = resource.schema.default(pruned)
    errors = resource.schema.errors(defaulted)
    if errors:
        raise statuses.invalid(resource, name, errors)
    return defaulted, [f'unknown field "{path}"' for path in unknown]


def being_deleted(obj: Mapping[str, Any], *, now: datetime.datetime) -> dict[str, Any]:
    """The object after a DELETE that its finalizers hold back: marked, and kept until they are gone."""
    marked = copy.deepcopy(dict(obj))
    meta = marked["metadata"]
    meta.update(
        deletionTimestamp=format_time(now),
        deletionGracePeriodSeconds=0,
        generation=meta.get("generation", 1) + 1,
    )
    return marked


def releasable(obj: Mapping[str, Any]) -> bool:
    """Marked for deletion and no finalizer left: the server removes it now."""
    meta = obj.get("metadata", {})
    return bool(meta.get("deletionTimestamp")) and not meta.get("finalizers")


def owner_uids(obj: Mapping[str, Any]) -> set[str]:
    return {ref.get("uid", "") for ref in obj.get("metadata", {}).get("ownerReferences") or ()}
