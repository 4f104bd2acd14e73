"""What the API server does with a custom object's body before storing it: prune, default, validate.

The order and the messages follow the real server (apiextensions-apiserver): fields the structural
schema does not declare are dropped (or rejected under `fieldValidation=Strict`), nulls of fields that
are not `nullable` are dropped, `default`s are filled in, and the result is validated; violations are
reported per field, e.g. `spec.replicas: Invalid value: 50: spec.replicas in body should be less than
or equal to 20`. Validation itself is delegated to `jsonschema` after translating OpenAPI's
`nullable` into JSON Schema.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

import jsonschema

#: Root fields every object has whatever its schema says (ObjectMeta is validated separately).
_ROOT_FIELDS = frozenset({"apiVersion", "kind", "metadata"})


@dataclasses.dataclass(frozen=True)
class FieldError:
    """One rejected field, as a Status `details.causes` entry."""

    field: str
    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def field_path(parts: Sequence[str | int]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def _render(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))[:256]


def to_json_schema(node: Mapping[str, Any]) -> dict[str, Any]:
    """OpenAPI v3 (structural) → JSON Schema: `nullable` becomes a null type; children are translated."""
    out = {key: value for key, value in node.items() if key != "nullable" and not key.startswith("x-kubernetes-")}
    if "properties" in out:
        out["properties"] = {name: to_json_schema(sub) for name, sub in out["properties"].items()}
    if isinstance(out.get("items"), Mapping):
        out["items"] = to_json_schema(out["items"])
    if isinstance(out.get("additionalProperties"), Mapping):
        out["additionalProperties"] = to_json_schema(out["additionalProperties"])
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


class Schema:
    """A CRD version's openAPIV3Schema, applied to whole objects."""

    def __init__(self, openapi: Mapping[str, Any]) -> None:
        self.openapi = openapi
        self._validator = jsonschema.Draft4Validator(to_json_schema(openapi))

    def prune(self, obj: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """A copy without undeclared fields and non-nullable nulls, and the paths of the undeclared ones."""
        unknown: list[str] = []
        body = _prune(self.openapi, _body(obj), [], unknown)
        return {**_envelope(obj), **body}, unknown

    def default(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """A copy with the schema's defaults filled in wherever the parent object exists."""
        return {**_envelope(obj), **_default(self.openapi, _body(obj))}

    def errors(self, obj: Mapping[str, Any]) -> list[FieldError]:
        found: list[FieldError] = []
        for error in sorted(self._validator.iter_errors(_body(obj)), key=lambda e: list(map(str, e.absolute_path))):
            found.extend(e for e in _describe(error) if e not in found)
        return found


def _envelope(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {key: copy.deepcopy(value) for key, value in obj.items() if key in _ROOT_FIELDS}


def _body(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in obj.items() if key not in _ROOT_FIELDS}


def _prune(schema: Mapping[str, Any], value: Any, path: list[str | int], unknown: list[str]) -> Any:
    if isinstance(value, Mapping):
        properties = schema.get("properties", {})
        additional = schema.get("additionalProperties")
        out = {}
        for key, item in value.items():
            sub = properties.get(key, additional if isinstance(additional, Mapping) else None)
            if sub is None:
                if schema.get("x-kubernetes-preserve-unknown-fields") or additional is True:
                    out[key] = copy.deepcopy(item)
                else:
                    unknown.append(field_path([*path, key]))
            elif item is not None or sub.get("nullable"):
                out[key] = _prune(sub, item, [*path, key], unknown)
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [_prune(schema["items"], item, [*path, index], unknown) for index, item in enumerate(value)]
    return copy.deepcopy(value)


def _default(schema: Mapping[str, Any], value: Any) -> Any:
    if isinstance(value, Mapping):
        properties = schema.get("properties", {})
        additional = schema.get("additionalProperties")
        out = dict(value)
        for key, sub in properties.items():
            if key not in out and "default" in sub:
                out[key] = copy.deepcopy(sub["default"])
        for key, item in out.items():
            sub = properties.get(key, additional if isinstance(additional, Mapping) else None)
            if sub is not None:
                out[key] = _default(sub, item)
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [_default(schema["items"], item) for item in value]
    return value


def _describe(error: jsonschema.ValidationError) -> list[FieldError]:
    """Kubernetes-style messages for one jsonschema error (a `required` error may name several fields)."""
    path = list(error.absolute_path)
    field = field_path(path)
    # Both are set on every error a validator reports (the stubs allow `Unset` for hand-made errors).
    value: Any = error.instance
    rule: Any = error.validator_value
    if error.validator == "required":
        missing = [name for name in rule if isinstance(value, Mapping) and name not in value]
        return [FieldError(field_path([*path, name]), "FieldValueRequired", "Required value") for name in missing]
    invalid = f"Invalid value: {_render(value)}: {field} in body"
    match error.validator:
        case "type":
            reason, message = "FieldValueTypeInvalid", f"{invalid} must be of type {_type_name(rule)}: {_render(value)}"
        case "pattern":
            reason, message = "FieldValueInvalid", f"{invalid} should match '{rule}'"
        case "maximum":
            reason, message = "FieldValueInvalid", f"{invalid} should be less than or equal to {rule}"
        case "minimum":
            reason, message = "FieldValueInvalid", f"{invalid} should be greater than or equal to {rule}"
        case "maxLength":
            reason, message = "FieldValueTooLong", f"Too long: may not be more than {rule} bytes"
        case "minLength":
            reason, message = "FieldValueInvalid", f"{invalid} should be at least {rule} chars long"
        case "maxItems":
            reason, message = "FieldValueTooMany", f"Too many: {len(value)}: must have at most {rule} items"
        case "enum":
            supported = ", ".join(_render(v) for v in rule if v is not None)
            reason, message = (
                "FieldValueNotSupported",
                f"Unsupported value: {_render(value)}: supported values: {supported}",
            )
        case _:
            reason, message = "FieldValueInvalid", f"{invalid}: {error.message}"
    return [FieldError(field, reason, message)]


def _type_name(rule: Any) -> str:
    return rule if isinstance(rule, str) else next(t for t in rule if t != "null")
