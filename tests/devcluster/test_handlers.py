"""The operator's real kopf registry (`handlers.build_registry`) against the dev cluster, with a
stand-in reconciler whose timing the test controls: what kopf itself does around our handlers."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from plugin_operator import handlers
from tests.devcluster.conftest import KopfThread, manifest, plugin
from tests.support.kube import RunningCluster

PROBE_SECONDS = 3.0


class _SlowProbes:
    """A reconciler whose health probe takes PROBE_SECONDS and changes nothing on the Plugin."""

    def __init__(self) -> None:
        self.probing = threading.Event()
        self.removed: list[str] = []

    async def reconcile(self, namespace: str, name: str) -> None:
        return None

    async def monitor(self, namespace: str, name: str) -> None:
        self.probing.set()
        await asyncio.sleep(PROBE_SECONDS)

    async def remove(self, body: dict[str, Any]) -> None:
        self.removed.append(body["metadata"]["name"])

    async def close(self) -> None:
        return None

    async def sweep(self) -> None:
        return None


@pytest.fixture
def reconciler(cluster: RunningCluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[_SlowProbes]:
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig_path))
    stand_in = _SlowProbes()
    operator = KopfThread(handlers.build_registry(stand_in, health_interval=0.2))  # type: ignore[arg-type]
    operator.start()
    yield stand_in
    operator.stop(timeout=10)


def test_a_delete_during_a_health_probe_waits_for_the_probe_not_a_minute(
    cluster: RunningCluster, reconciler: _SlowProbes
) -> None:
    """kopf re-checks a still-running timer of a deleted object every `cancellation_polling`
    seconds (60 by default): a probe in flight at delete time used to hold the finalizer a minute."""
    cluster.kubectl_ok("apply", "-f", "-", input=manifest(plugin("probed")))
    assert reconciler.probing.wait(timeout=10), "the monitor timer never ran"

    started = time.monotonic()
    cluster.kubectl_ok("delete", "plugin", "probed", "--wait=false")
    deadline = started + 20
    while cluster.kubectl("get", "plugin", "probed").returncode == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    took = time.monotonic() - started

    assert cluster.kubectl("get", "plugin", "probed").returncode == 1, "the Plugin is still there after 20 s"
    assert set(reconciler.removed) == {"probed"}  # kopf may call it again while the timer stops
    assert took < PROBE_SECONDS + 5, f"the delete took {took:.1f} s"  # 60+ s before the fix
