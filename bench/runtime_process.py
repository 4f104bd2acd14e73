"""A real `plugin-runtime` process for the benchmarks: started on a free loopback port, stopped after."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from devservices import processes

_START_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_runtime(config: Mapping[str, Any], *, ready_path: str = "/health/live") -> Iterator[str]:
    """A process hosting `config` (a RuntimeConfig document); yields its URL once `ready_path` answers 200."""
    with started_runtime(config, ready_path=ready_path) as (url, _):
        yield url


@contextlib.contextmanager
def started_runtime(config: Mapping[str, Any], *, ready_path: str = "/health/live") -> Iterator[tuple[str, int]]:
    """As `running_runtime`, yielding the process id too (to read its CPU time from /proc)."""
    with tempfile.TemporaryDirectory(prefix="bench-runtime-") as directory:
        path = Path(directory) / "runtime.yaml"
        path.write_text(yaml.safe_dump(dict(config)))
        port = free_port()
        log = Path(directory) / "runtime.log"
        with open(log, "wb") as output:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "plugin_runtime.cli",
                    "--config",
                    str(path),
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                ],
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            processes.wait_ready(process, url + ready_path, log, name="plugin-runtime", timeout=_START_SECONDS)
            yield url, process.pid
        finally:
            processes.stop(process, timeout=15)
