"""Server-side printing: `meta.k8s.io/v1` Tables, which is what `kubectl get` asks for and prints.

kubectl sends `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` and prints the cells as given,
so the server evaluates each column's JSONPath and renders dates as ages ("5m", "3h12m") the way
the real API server does (apiextensions' table convertor, apimachinery's `HumanDuration`).
"""

from __future__ import annotations

import datetime
import functools
import json
from collections.abc import Iterable, Mapping
from typing import Any

from jsonpath_ng import parser as jsonpath

from plugin_devcluster import catalogue, objects

NAME_COLUMN = {
    "name": "Name",
    "type": "string",
    "format": "name",
    "description": "Name must be unique within a namespace.",
    "priority": 0,
}


def wants_table(accept: str) -> bool:
    """Whether an Accept header asks for a meta.k8s.io Table (v1 or v1beta1: the same shape)."""
    return any("as=Table" in part and "g=meta.k8s.io" in part for part in accept.split(","))


@functools.lru_cache(maxsize=256)
def _compiled(path: str) -> Any:
    # Kubernetes' column paths are relative (`.status.phase`); jsonpath-ng wants them rooted.
    return jsonpath.parse("$" + path if path.startswith((".", "[")) else path)


def lookup(obj: Mapping[str, Any], path: str) -> Any:
    """The first value at a JSONPath, or None when the path leads nowhere (kubectl shows `<none>`)."""
    found = _compiled(path).find(obj)
    return found[0].value if found else None


def human_duration(seconds: float) -> str:
    """apimachinery's HumanDuration: coarser units as the age grows."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes, hours = whole // 60, whole // 3600
    if minutes < 10:
        return f"{minutes}m{whole % 60}s" if whole % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    years = days // 365
    if hours < 24 * 365 * 8:
        return f"{years}y{days % 365}d" if days % 365 else f"{years}y"
    return f"{years}y"


def cell(column: catalogue.Column, obj: Mapping[str, Any], now: datetime.datetime) -> Any:
    value = lookup(obj, column.json_path)
    if value is None:
        return None
    if column.type == "date":
        try:
            return human_duration((now - objects.parse_time(str(value))).total_seconds())
        except ValueError:
            return "<invalid>"
    if column.type == "string":
        if isinstance(value, bool):
            return "true" if value else "false"
        return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    if column.type == "integer":
        return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    if column.type == "number":
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    if column.type == "boolean":
        return value if isinstance(value, bool) else None
    return None


def _row_object(obj: Mapping[str, Any], include_object: str) -> Any:
    if include_object == "Object":
        return obj
    if include_object == "None":
        return None
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata", {})}


def table(
    resource: catalogue.ResourceType,
    objects: Iterable[Mapping[str, Any]],
    *,
    now: datetime.datetime,
    resource_version: str,
    include_object: str = "Metadata",
) -> dict[str, Any]:
    """A Table of the objects; `include_object` is the request's `includeObject` (Metadata by default)."""
    definitions = [NAME_COLUMN] + [
        {
            "name": c.name,
            "type": c.type,
            "format": c.format,
            "description": c.description or f"Custom resource definition column (in JSONPath format): {c.json_path}",
            "priority": c.priority,
        }
        for c in resource.columns
    ]
    rows = [
        {
            "cells": [obj["metadata"]["name"]] + [cell(c, obj, now) for c in resource.columns],
            "object": _row_object(obj, include_object),
        }
        for obj in objects
    ]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": rows,
    }
