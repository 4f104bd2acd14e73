"""Child processes `make run`, the tests and the benchmarks start: wait until one answers, stop it for sure."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx


def wait_ready(process: subprocess.Popen[bytes], url: str, log: Path, *, name: str, timeout: float) -> None:
    """Return once `url` answers 200; fail with the log's tail if the process exits or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with code {process.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{name} was not ready after {timeout:.0f} s: {log.read_text()[-2000:]}")


def stop(process: subprocess.Popen[bytes], *, timeout: float) -> None:
    """SIGTERM, and SIGKILL if it has not exited within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
