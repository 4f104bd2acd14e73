"""Generate the Plugin CRD from the pydantic models (never edit `crds/plugins.yaml` by hand).

Kubernetes wants a *structural* OpenAPI v3 schema: no `$ref`, no `anyOf` for nullability, explicit
types, `x-kubernetes-preserve-unknown-fields` for free-form maps. `structural()` rewrites pydantic's
JSON Schema into that form. `python -m plugin_operator.crd > crds/plugins.yaml` regenerates the file.
"""

from __future__ import annotations

import copy
import sys
from typing import Any

import yaml

from plugin_operator import model_base, models

PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase", "description": "Lifecycle state."},
    {"name": "Health", "type": "string", "jsonPath": ".status.health.status", "description": "Last health probe."},
    {"name": "Version", "type": "string", "jsonPath": ".status.servingVersion", "description": "Version serving."},
    {"name": "Enabled", "type": "boolean", "jsonPath": ".spec.enabled", "description": "Accepting queries."},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]

_DROP = {"title", "$defs", "discriminator"}


def structural(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Rewrite one pydantic JSON Schema node (and its children) into Kubernetes' structural form."""
    defs = defs if defs is not None else schema.get("$defs", {})
    node = copy.deepcopy(schema)
    if "$ref" in node:
        target = defs[node.pop("$ref").split("/")[-1]]
        merged = {**copy.deepcopy(target), **node}
        return structural(merged, defs)
    for key in ("anyOf", "oneOf"):
        if key in node:
            options = [o for o in node.pop(key) if o.get("type") != "null"]
            nullable = len(options) < len(schema[key])
            if len(options) != 1:
                raise ValueError(f"cannot express a union of {len(options)} types in a structural schema")
            inner = structural(options[0], defs)
            node = {**inner, **{k: v for k, v in node.items() if k not in _DROP}}
            if nullable:
                node["nullable"] = True
            if node.get("default", ...) is None:
                del node["default"]
    if "const" in node:
        node["enum"] = [node.pop("const")]
        node.setdefault("type", "string")
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "properties":
            out[key] = {name: structural(sub, defs) for name, sub in value.items()}
        elif key == "items":
            out[key] = structural(value, defs)
        elif key == "additionalProperties":
            if value is True or value == {}:
                out["x-kubernetes-preserve-unknown-fields"] = True
            elif value is not False:
                out[key] = structural(value, defs)
        elif key in ("maxLength", "minLength", "maxItems", "minItems", "maximum", "minimum"):
            out[key] = value
        else:
            out[key] = value
    if out.get("x-kubernetes-preserve-unknown-fields"):
        out.pop("additionalProperties", None)
        out.setdefault("type", "object")
    if "properties" in out:
        out["type"] = "object"
    return out


def _schema(model: type[model_base.Model]) -> dict[str, Any]:
    return structural(model.model_json_schema(by_alias=True, mode="validation"))


def crd() -> dict[str, Any]:
    spec_schema = _schema(models.PluginSpec)
    spec_schema["description"] = (models.PluginSpec.__doc__ or "").strip()
    status_schema = _schema(models.PluginStatus)
    status_schema["description"] = (models.PluginStatus.__doc__ or "").strip()
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{models.PLURAL}.{models.GROUP}",
            "labels": {"app.kubernetes.io/name": "plugin-operator", "app.kubernetes.io/part-of": "hyperspot-analytics"},
        },
        "spec": {
            "group": models.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": models.KIND,
                "listKind": f"{models.KIND}List",
                "plural": models.PLURAL,
                "singular": models.SINGULAR,
                "shortNames": list(models.SHORT_NAMES),
                "categories": ["analytics"],
            },
            "versions": [
                {
                    "name": models.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "An analytics plugin: a query adapter or datasource plugin and its runtime.",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema,
                                "status": status_schema,
                            },
                        }
                    },
                }
            ],
        },
    }


def render() -> str:
    header = "# Generated from plugin_operator/models.py by `python -m plugin_operator.crd`. Do not edit.\n"
    return header + yaml.safe_dump(crd(), sort_keys=False, width=120)


if __name__ == "__main__":
    sys.stdout.write(render())
