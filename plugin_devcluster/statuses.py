"""API failures as Kubernetes `Status` objects, worded like the real API server's.

Clients branch on the code and reason (kopf retries a 422 from a failed JSON-patch test, `kubectl`
prints `The Plugin "x" is invalid: spec.version: Required value` from `details.causes`), so both are
kept faithful; the message is what a human sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from plugin_devcluster import catalogue, schemas


class ApiError(Exception):
    """A request the server refuses; answered with `status()` and HTTP `code`."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details or {}

    def status(self) -> dict[str, Any]:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        }


def _details(resource: catalogue.ResourceType, name: str) -> dict[str, Any]:
    return {"name": name, "group": resource.group, "kind": resource.plural}


def not_found(resource: catalogue.ResourceType, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{resource.qualified_name} "{name}" not found', _details(resource, name))


def namespace_not_found(namespace: str) -> ApiError:
    return not_found(catalogue.NAMESPACES, namespace)


def unknown_resource() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")


def already_exists(resource: catalogue.ResourceType, name: str) -> ApiError:
    return ApiError(
        409, "AlreadyExists", f'{resource.qualified_name} "{name}" already exists', _details(resource, name)
    )


def conflict(resource: catalogue.ResourceType, name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {resource.qualified_name} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        _details(resource, name),
    )


def invalid(resource: catalogue.ResourceType, name: str, errors: Sequence[schemas.FieldError]) -> ApiError:
    listed = str(errors[0]) if len(errors) == 1 else "[" + ", ".join(map(str, errors)) + "]"
    kind = f"{resource.kind}.{resource.group}" if resource.group else resource.kind
    return ApiError(
        422,
        "Invalid",
        f'{kind} "{name}" is invalid: {listed}',
        {
            "name": name,
            "group": resource.group,
            "kind": resource.kind,
            "causes": [{"reason": e.reason, "message": e.message, "field": e.field} for e in errors],
        },
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def unsupported_media_type(content_type: str) -> ApiError:
    hint = (
        " (this dev cluster decodes protobuf only for namespaces, secrets and configmaps; instead of "
        "`kubectl create <kind> ...`, pipe `kubectl create <kind> ... --dry-run=client -o yaml` "
        "into `kubectl apply -f -`)"
        if "protobuf" in content_type
        else ""
    )
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format ({content_type}) - accepted media types include: "
        f"application/json, application/json-patch+json, application/merge-patch+json, "
        f"application/strategic-merge-patch+json{hint}",
    )


def method_not_allowed(method: str) -> ApiError:
    return ApiError(
        405, "MethodNotAllowed", f"the server does not allow this method on the requested resource ({method})"
    )


def expired(resource_version: str) -> ApiError:
    return ApiError(410, "Expired", f"too old resource version: {resource_version}")
