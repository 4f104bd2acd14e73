"""A representative plugin (Prometheus adapter with two secrets, two backends, two queries) and helpers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from plugin_operator import desired, models, render

SPEC: dict[str, Any] = {
    "pluginId": "prometheus-adapter",
    "version": "1.4.2",
    "displayName": "Prometheus adapter",
    "author": "Hypernetix",
    "description": "OData over PromQL",
    "contractFormat": "prometheus",
    "adapter": "prometheus",
    "config": {"base_url": "https://prometheus.example.com", "timeout": "20s", "retry_count": 3},
    "secretRefs": [
        {"name": "api_key", "secretName": "prometheus-credentials", "key": "prom-api-key"},
        {"name": "basic_password", "secretName": "prometheus-basic", "key": "basic-auth-pw"},
    ],
    "autoRegister": {"queries": True, "datasources": True},
    "queries": [
        {
            "id": "gts.hypernetix.hyperspot.ax.query.v1~prometheus.monitoring._.cpu_usage.v1",
            "name": "CPU Usage Metrics",
            "category": "monitoring",
            "apiEndpoint": "/metrics/cpu",
            "capabilitiesId": "gts.hypernetix.hyperspot.ax.query_capabilities.v1~prometheus.monitoring._.default.v1",
            "returnsSchemaId": "gts.hypernetix.hyperspot.ax.schema.v1~prometheus.monitoring._.timeseries.v1~",
            "options": {"metric": "node_cpu_seconds_total", "step": "1m"},
        },
        {
            "id": "gts.hypernetix.hyperspot.ax.query.v1~prometheus.monitoring._.memory_usage.v1",
            "name": "Memory Usage",
            "category": "monitoring",
            "description": "Resident memory per instance",
            "apiEndpoint": "/metrics/memory",
            "capabilitiesId": "gts.hypernetix.hyperspot.ax.query_capabilities.v1~prometheus.monitoring._.default.v1",
            "returnsSchemaId": "gts.hypernetix.hyperspot.ax.schema.v1~prometheus.monitoring._.timeseries.v1~",
        },
    ],
    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
    "replicas": 2,
    "sandbox": {
        "timeout": "1m30s",
        "maxConcurrentQueries": 8,
        "circuitBreaker": {"failureThreshold": 3, "cooldown": "250ms"},
    },
    "egress": [
        {"cidr": "10.0.12.0/24", "ports": [9090]},
        {"namespace": "monitoring", "podLabels": {"app.kubernetes.io/name": "prometheus"}, "ports": [9090, 9091]},
    ],
}

SECRET_VERSIONS = {"prometheus-credentials": "4711", "prometheus-basic": "815"}


def make_spec(**changes: Any) -> models.PluginSpec:
    return models.PluginSpec.model_validate({**SPEC, **changes})


TARGET = desired.Target(image="ghcr.io/hypernetix/hyperspot-plugin-runtime:0.1.0", kubernetes=True)
UID = "6f1c2f56-0d3e-4b7e-9a55-3f1f0b5d9c11"


def make_instance(
    spec: models.PluginSpec | None = None,
    *,
    cr_name: str = "prometheus-adapter",
    target: desired.Target = TARGET,
    secret_versions: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
) -> desired.Instance:
    spec = spec or make_spec()
    return desired.instance(
        namespace="analytics",
        cr_name=cr_name,
        uid=UID,
        plugin_id=spec.id_for(cr_name),
        spec=spec,
        target=target,
        secrets=secrets,
        secret_versions=SECRET_VERSIONS if secret_versions is None else secret_versions,
    )


def make_inputs(
    spec: models.PluginSpec | None = None,
    *,
    cr_name: str = "prometheus-adapter",
    version: str | None = None,
    replicas: int | None = None,
) -> render.RenderInputs:
    """The rendered inputs of an instance (`version`/`replicas` as if the spec said so)."""
    spec = spec or make_spec()
    changes: dict[str, Any] = {}
    if version is not None:
        changes["version"] = version
    if replicas is not None:
        changes["replicas"] = replicas
    if changes:
        spec = models.PluginSpec.model_validate({**spec.model_dump(by_alias=True), **changes})
    return make_instance(spec, cr_name=cr_name).inputs


def leaves(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every scalar of a manifest with its path (list items as their index)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from leaves(value, (*path, str(index)))
    else:
        yield path, node
