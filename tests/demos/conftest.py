"""One demo stack for the module, on free ports (never the fixed ports of `make run`), stopped after."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from plugin_devcluster.demos.stack import Backend, DemoStack


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: Prometheus scrapes the live exporter this often here (`make run`: every 15 s), so live samples show within seconds.
SCRAPE_SECONDS = 1


def start_stack(state: Path, **ports: int) -> DemoStack:
    """A stack with every port free unless given; Elasticsearch expected where nothing listens."""
    chosen = {"prometheus_port": free_port(), "rest_port": free_port(), "graphql_port": free_port(), **ports}
    url = f"http://127.0.0.1:{free_port()}"
    return DemoStack.start(state, elasticsearch_url=url, scrape_seconds=SCRAPE_SECONDS, **chosen)


def backend(stack: DemoStack, example: str) -> Backend:
    [found] = [b for b in stack.backends if b.example == example]
    return found


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    started = start_stack(tmp_path_factory.mktemp("state"))
    try:
        yield started
    finally:
        started.stop()
