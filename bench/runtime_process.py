"""A real `plugin-runtime` process for the benchmarks: started on a free loopback port, stopped after."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml

_START_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_runtime(config: Mapping[str, Any], *, ready_path: str = "/health/live") -> Iterator[str]:
    """A process hosting `config` (a RuntimeConfig document); yields its URL once `ready_path` answers 200."""
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
            _wait_ready(process, url + ready_path, log)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + _START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"plugin-runtime exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"plugin-runtime did not answer within {_START_SECONDS:.0f} s: {log.read_text()[-2000:]}")
