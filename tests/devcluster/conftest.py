"""Fixtures of the dev-cluster suite: a fresh cluster per test (it starts in milliseconds), the real
kubectl against it, a plain HTTP client for API-level assertions, and Plugin manifests."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import kopf
import pytest
import yaml

from tests.support import kube

PLUGINS = "/apis/analytics.hyperspot.io/v1alpha1/namespaces/default/plugins"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
QUERY_ID = "gts.hypernetix.hyperspot.ax.query.v1~acme.metrics._.cpu_usage.v1"
CAPABILITIES_ID = "gts.hypernetix.hyperspot.ax.capabilities.v1~acme.metrics._.basic.v1"
ROWS_SCHEMA_ID = "gts.hypernetix.hyperspot.ax.schema.v1~acme.metrics._.cpu_row.v1~"


def plugin(name: str, *, labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "analytics.hyperspot.io/v1alpha1",
        "kind": "Plugin",
        "metadata": {"name": name, **({"labels": labels} if labels else {})},
        "spec": {"version": "1.0.0", "contractFormat": "prometheus", "adapter": "prometheus", **spec},
    }
    return body


def query(**overrides: Any) -> dict[str, Any]:
    return {
        "id": QUERY_ID,
        "name": "CPU usage",
        "category": "monitoring",
        "apiEndpoint": "/cpu",
        "capabilitiesId": CAPABILITIES_ID,
        "returnsSchemaId": ROWS_SCHEMA_ID,
        **overrides,
    }


def manifest(*objects: dict[str, Any]) -> str:
    return str(yaml.safe_dump_all(objects, sort_keys=False))


class KopfThread:
    """kopf with a private registry, in a thread with its own event loop (as `make run` runs it),
    until `stop()`."""

    def __init__(self, registry: kopf.OperatorRegistry) -> None:
        settings = kopf.OperatorSettings()
        settings.scanning.disabled = True
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=lambda: asyncio.run(
                kopf.operator(
                    registry=registry, settings=settings, clusterwide=True, standalone=True, stop_flag=self._stop
                )
            ),
            name="kopf-test",
            daemon=True,
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self, *, timeout: float) -> float:
        """Stop kopf; returns how long it took."""
        started = time.monotonic()
        self._stop.set()
        self._thread.join(timeout=timeout)
        return time.monotonic() - started


@pytest.fixture
def cluster() -> Iterator[kube.RunningCluster]:
    with kube.dev_cluster() as running:
        yield running


@pytest.fixture
def api(cluster: kube.RunningCluster) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cluster.url, timeout=10) as client:
        yield client
