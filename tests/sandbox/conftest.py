"""Fixtures for the sandbox tests: a real `SandboxRuntime` and a helper running `python -c` workloads in it.

The tests need what the embedded cluster needs (root, bwrap, cgroup v1): a machine without them fails
the isolation check loudly instead of skipping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from plugin_devcluster.containers import ContainerSpec, Termination
from plugin_devcluster.sandbox import SandboxContainer, SandboxRuntime
from tests.support.echo import EchoServer

RUN_TIMEOUT = 60.0


@pytest.fixture(scope="session")
def runtime() -> SandboxRuntime:
    found = SandboxRuntime()
    assert found.isolation().complete, f"this machine lacks isolation the sandbox tests need: {found.isolation()}"
    return found


Start = Callable[..., SandboxContainer]


@pytest.fixture
def start(runtime: SandboxRuntime, tmp_path: Path) -> Iterator[Start]:
    """start(code, **spec fields) → a running container of `python -c code`; stopped after the test."""
    started: list[SandboxContainer] = []

    def run(code: str, rt: SandboxRuntime | None = None, **fields: object) -> SandboxContainer:
        spec = ContainerSpec(
            pod=str(fields.pop("pod", "pod")),
            namespace="sandbox-tests",
            argv=("python", "-c", code),
            env=dict(fields.pop("env", {})),  # type: ignore[call-overload]
            mounts=tuple(fields.pop("mounts", ())),  # type: ignore[call-overload]
            port=int(fields.pop("port", 8080)),  # type: ignore[call-overload]
            workdir=tmp_path / f"pod-{len(started)}",
            **fields,  # type: ignore[arg-type]
        )
        container = (rt or runtime).start(spec)
        started.append(container)
        return container

    yield run
    for container in started:
        container.stop(0)


def finished(container: SandboxContainer, timeout: float = RUN_TIMEOUT) -> tuple[Termination, str]:
    """Wait for the workload to end; its termination and what it printed."""
    termination = container.wait(timeout)
    return termination, container.log_path.read_text()


@pytest.fixture
def echo() -> Iterator[Callable[[str], EchoServer]]:
    servers: list[EchoServer] = []

    def make(host: str = "127.0.0.1") -> EchoServer:
        servers.append(EchoServer(host))
        return servers[-1]

    yield make
    for server in servers:
        server.close()
