"""Fixtures of the adapter tests: one real Prometheus for the session, plugins wired to servers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from adapters.prometheus.plugin import PrometheusPlugin
from devservices.prometheus import running_prometheus
from plugin_runtime import interface
from tests.adapters import dataset

QUERY_ID = "gts.hypernetix.hyperspot.ax.query.v1~hyperspot.monitoring._.samples.v1"


@pytest.fixture(scope="session")
def prometheus_url() -> Iterator[str]:
    with running_prometheus(dataset.openmetrics()) as url:
        yield url


def query(options: Mapping[str, Any] | None = None, *, query_id: str = QUERY_ID) -> interface.QueryDefinition:
    return interface.QueryDefinition(
        id=query_id,
        name="Samples",
        category="monitoring",
        api_endpoint="/metrics/samples",
        capabilities_id="gts.hypernetix.hyperspot.ax.query_capabilities.v1~hyperspot.monitoring._.default.v1",
        returns_schema_id="gts.hypernetix.hyperspot.ax.schema.v1~hyperspot.monitoring._.samples.v1~",
        options=dict(options or {}),
    )


def config(
    base_url: str,
    options: Mapping[str, Any] | None = None,
    *,
    secrets: Mapping[str, str] | None = None,
    **settings: Any,
) -> interface.PluginConfig:
    return interface.PluginConfig(
        settings={"base_url": base_url, "timeout": "5s", "retry_backoff": "10ms", **settings},
        queries=(query(options),),
        secrets=dict(secrets or {}),
    )


@pytest.fixture
def prometheus_plugin(prometheus_url: str) -> Iterator[Callable[..., PrometheusPlugin]]:
    """Build PrometheusPlugins on the session's server; "now" is the end of the data set."""
    made: list[PrometheusPlugin] = []

    def make(options: Mapping[str, Any] | None = None, **settings: Any) -> PrometheusPlugin:
        plugin = PrometheusPlugin(clock=lambda: dt.datetime.fromtimestamp(dataset.END, dt.UTC))
        plugin.init(config(prometheus_url, options, **settings))
        made.append(plugin)
        return plugin

    yield make
    for plugin in made:
        plugin.shutdown()
