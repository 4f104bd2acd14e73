"""The chart's Grafana dashboard and PrometheusRule, rendered, and the metric names their queries read."""

from __future__ import annotations

import json
from typing import Any

import promql_parser

from tests.chart import helm
from tests.chart.conftest import MINIMAL

_ENABLED = {
    **MINIMAL,
    "metrics": {
        "serviceMonitor": {"enabled": True},
        "prometheusRule": {"enabled": True},
        "grafanaDashboard": {"enabled": True},
    },
}


def rendered(kind: str) -> dict[str, Any]:
    [found] = [o for o in helm.render_chart(_ENABLED) if o["kind"] == kind]
    return found


def dashboard() -> dict[str, Any]:
    return dict(json.loads(rendered("ConfigMap")["data"]["plugin-operator.json"]))


def panel_queries() -> dict[str, list[str]]:
    """Panel title → its PromQL expressions (rows have none)."""
    return {p["title"]: [t["expr"] for t in p.get("targets", [])] for p in dashboard()["panels"] if p["type"] != "row"}


def alert_queries() -> dict[str, str]:
    return {r["alert"]: r["expr"] for g in rendered("PrometheusRule")["spec"]["groups"] for r in g["rules"]}


def metric_names(expr: str) -> set[str]:
    """Every metric a PromQL expression selects (names of its vector and range selectors)."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            return
        for attribute in ("expr", "lhs", "rhs", "param", "vector_selector"):
            child = getattr(node, attribute, None)
            if child is not None and not isinstance(child, (str, int, float)):
                walk(child)
        for argument in getattr(node, "args", None) or []:
            walk(argument)

    walk(promql_parser.parse(expr))
    return names
