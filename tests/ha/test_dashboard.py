"""The Grafana dashboard ConfigMap: labelled for the sidecar, JSON that Grafana loads (checked against
the dashboard fields Grafana requires), every query valid PromQL over the templated data source.

That every metric exists in a running operator's or runtime's /metrics: tests/e2e/test_observability.py.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import promql_parser

from tests.chart import helm
from tests.chart.conftest import MINIMAL

from . import dashboard

_DATASOURCE = {
    "type": "object",
    "required": ["type", "uid"],
    "properties": {"type": {"const": "prometheus"}, "uid": {"const": "${datasource}"}},
}
_GRID = {
    "type": "object",
    "required": ["x", "y", "w", "h"],
    "properties": {
        "x": {"type": "integer", "minimum": 0},
        "y": {"type": "integer", "minimum": 0},
        "w": {"type": "integer", "minimum": 1, "maximum": 24},
        "h": {"type": "integer", "minimum": 1},
    },
}
#: The part of Grafana's dashboard model (schemaVersion 39) that provisioning from a sidecar relies on.
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["title", "uid", "schemaVersion", "panels", "templating", "time"],
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "uid": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,40}$"},
        "schemaVersion": {"type": "integer", "minimum": 36},
        "time": {"type": "object", "required": ["from", "to"]},
        "templating": {
            "type": "object",
            "required": ["list"],
            "properties": {
                "list": {
                    "type": "array",
                    "contains": {
                        "type": "object",
                        "properties": {
                            "name": {"const": "datasource"},
                            "type": {"const": "datasource"},
                            "query": {"const": "prometheus"},
                        },
                        "required": ["name", "type", "query"],
                    },
                }
            },
        },
        "panels": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "type", "title", "gridPos"],
                "properties": {
                    "id": {"type": "integer"},
                    "type": {"enum": ["row", "stat", "timeseries", "gauge", "table"]},
                    "title": {"type": "string", "minLength": 1},
                    "gridPos": _GRID,
                    "datasource": _DATASOURCE,
                    "targets": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["refId", "expr", "datasource"],
                            "properties": {"expr": {"type": "string", "minLength": 1}, "datasource": _DATASOURCE},
                        },
                    },
                },
                "if": {"properties": {"type": {"not": {"const": "row"}}}},
                "then": {"required": ["datasource", "targets"]},
            },
        },
    },
}


def test_the_configmap_is_labelled_for_grafanas_sidecar() -> None:
    configmap = dashboard.rendered("ConfigMap")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert list(configmap["data"]) == ["plugin-operator.json"]


def test_the_dashboard_json_matches_grafanas_model() -> None:
    board = dashboard.dashboard()
    jsonschema.Draft202012Validator(SCHEMA).validate(board)
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


def test_panels_do_not_overlap_on_the_grid() -> None:
    cells: set[tuple[int, int]] = set()
    for panel in dashboard.dashboard()["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        area = {
            (x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & area, f"{panel['title']} overlaps another panel"
        cells |= area


def test_every_query_is_valid_promql_reading_a_metric() -> None:
    for title, queries in dashboard.panel_queries().items():
        for expr in queries:
            promql_parser.parse(expr)  # raises on a syntax error
            assert dashboard.metric_names(expr), f"{title}: {expr} reads no metric"


def test_no_dashboard_unless_enabled() -> None:
    assert not [o for o in helm.render_chart(MINIMAL) if o["kind"] == "ConfigMap"]
