"""Helm's install-time steps that the tests need: merge values, validate them, render every template."""

from __future__ import annotations

import copy
import json
import pathlib
from collections.abc import Mapping
from typing import Any

import jsonschema
import yaml

from . import gotemplate

REPO = pathlib.Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "plugin-operator"
RELEASE = "plugin-operator"
NAMESPACE = "analytics-system"


def chart_metadata() -> dict[str, Any]:
    return yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))


def default_values() -> dict[str, Any]:
    return yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))


def values_schema() -> dict[str, Any]:
    return json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))


def merged(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's coalescing: maps merge key by key, anything else (lists included) is replaced."""
    result = copy.deepcopy(dict(base))
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merged(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def validate_values(values: Mapping[str, Any]) -> None:
    """What `helm install` does with values.schema.json before rendering; raises jsonschema.ValidationError."""
    jsonschema.Draft7Validator(values_schema(), format_checker=jsonschema.FormatChecker()).validate(values)


def render_chart(
    overrides: Mapping[str, Any], *, release: str = RELEASE, namespace: str = NAMESPACE
) -> list[dict[str, Any]]:
    """`helm template` of the chart's templates (CRDs in crds/ are installed as they are, not templated)."""
    values = merged(default_values(), overrides)
    validate_values(values)
    chart = chart_metadata()
    context = {
        "Values": values,
        "Release": {"Name": release, "Namespace": namespace, "Service": "Helm"},
        "Chart": {"Name": chart["name"], "Version": chart["version"], "AppVersion": chart["appVersion"]},
    }
    templates = sorted(path for path in (CHART / "templates").iterdir() if path.suffix in (".yaml", ".tpl"))
    rendered = gotemplate.render_chart({path.name: path.read_text(encoding="utf-8") for path in templates}, context)
    objects: list[dict[str, Any]] = []
    for name in sorted(rendered):
        objects.extend(doc for doc in yaml.safe_load_all(rendered[name]) if doc is not None)
    return objects
