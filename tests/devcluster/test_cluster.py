"""Starting and stopping the dev cluster: in an event loop, in a thread, with open watches, with a clock."""

from __future__ import annotations

import datetime
import socket
import threading
import time

import httpx
import pytest

from plugin_devcluster import DevCluster
from tests.devcluster.conftest import CONFIGMAPS, PLUGINS, plugin

TABLE = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}


async def test_async_use_installs_the_crd_and_the_namespaces() -> None:
    async with (
        DevCluster(namespaces=("default", "team-a")) as cluster,
        httpx.AsyncClient(base_url=cluster.url) as client,
    ):
        namespaces = (await client.get("/api/v1/namespaces")).json()
        crds = (await client.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")).json()

    assert [ns["metadata"]["name"] for ns in namespaces["items"]] == ["default", "team-a"]
    assert [crd["metadata"]["name"] for crd in crds["items"]] == ["plugins.analytics.hyperspot.io"]
    with pytest.raises(RuntimeError):
        _ = cluster.url


def test_open_watches_end_when_the_cluster_stops() -> None:
    cluster = DevCluster.start_in_thread()
    received: list[bytes] = []
    connected = threading.Event()

    def watch() -> None:
        with httpx.stream("GET", f"{cluster.url}{CONFIGMAPS}", params={"watch": "true"}, timeout=None) as stream:
            connected.set()
            received.extend(stream.iter_bytes())

    watcher = threading.Thread(target=watch)
    watcher.start()
    assert connected.wait(5)
    started = time.monotonic()

    cluster.stop()
    watcher.join(5)

    assert not watcher.is_alive()
    assert time.monotonic() - started < 2.0
    assert b"".join(received) == b""
    cluster.stop()  # stopping again is harmless


def test_a_watch_ends_after_its_timeout(api: httpx.Client) -> None:
    started = time.monotonic()

    response = api.get(CONFIGMAPS, params={"watch": "true", "timeoutSeconds": "1"})

    assert response.status_code == 200 and response.text == ""
    assert 0.9 < time.monotonic() - started < 3.0


def test_a_busy_port_fails_the_start() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(OSError):
            DevCluster.start_in_thread(port=busy.getsockname()[1])


def test_timestamps_and_ages_follow_the_injected_clock() -> None:
    now = [datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC)]
    with DevCluster.start_in_thread(clock=lambda: now[0]) as cluster, httpx.Client(base_url=cluster.url) as api:
        created = api.post(PLUGINS, json=plugin("metrics")).json()
        now[0] += datetime.timedelta(hours=3, minutes=5)
        table = api.get(PLUGINS, headers=TABLE).json()

    assert created["metadata"]["creationTimestamp"] == "2026-01-01T12:00:00Z"
    assert table["rows"][0]["cells"][-1] == "3h5m"


def test_events_expire_after_an_hour_like_the_real_servers_event_ttl() -> None:
    now = [datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC)]
    events = "/api/v1/namespaces/default/events"
    with DevCluster.start_in_thread(clock=lambda: now[0]) as cluster, httpx.Client(base_url=cluster.url) as api:
        api.post(events, json={"metadata": {"name": "old"}, "reason": "A"})
        now[0] += datetime.timedelta(minutes=59)
        api.post(events, json={"metadata": {"name": "recent"}, "reason": "B"})
        now[0] += datetime.timedelta(minutes=2)
        api.post(events, json={"metadata": {"name": "new"}, "reason": "C"})
        names = [event["metadata"]["name"] for event in api.get(events).json()["items"]]

    assert names == ["new", "recent"]
