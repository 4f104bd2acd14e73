"""Declared entities and plugin rows as the operator would pass them (snake_case, as model_dump() gives)."""

from __future__ import annotations

from typing import Any

from plugin_operator import db
from plugin_runtime import gts


def query_id(name: str) -> str:
    return f"{gts.QUERY_TYPE}acme.monitoring._.{name}.v1"


def datasource_id(name: str) -> str:
    return f"{gts.DATASOURCE_TYPE}acme.monitoring._.{name}.v1"


def query(slug: str, /, **overrides: Any) -> dict[str, Any]:
    return {
        "id": query_id(slug),
        "name": f"{slug} metrics",
        "category": "monitoring",
        "description": f"The {slug} series",
        "api_endpoint": f"/metrics/{slug}",
        "capabilities_id": "gts.hypernetix.hyperspot.ax.query_capabilities.v1~acme.monitoring._.default.v1",
        "returns_schema_id": "gts.hypernetix.hyperspot.ax.schema.v1~acme.monitoring._.timeseries.v1~",
        **overrides,
    }


def datasource(slug: str, of_query: str, /, **overrides: Any) -> dict[str, Any]:
    return {
        "id": datasource_id(slug),
        "query_id": query_id(of_query),
        "name": f"{slug} datasource",
        "description": "",
        "params": {"$top": 10},
        "render_options": {"chart": "line"},
        **overrides,
    }


def plugin(plugin_id: str, **overrides: Any) -> db.PluginRecord:
    values: dict[str, Any] = {
        "id": plugin_id,
        "name": plugin_id.title(),
        "version": "1.0.0",
        "contract_format": "prometheus",
        "config": {"base_url": "http://prometheus:9090"},
        "namespace": "analytics",
        "cr_name": plugin_id,
        "uid": f"uid-{plugin_id}",
        **overrides,
    }
    return db.PluginRecord(**values)
