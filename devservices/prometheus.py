"""A real Prometheus server for tests, loaded with deterministic historical samples.

Debian's `prometheus` package provides the binaries; nothing in this module mocks the server. The
data is backfilled with `promtool tsdb create-blocks-from openmetrics` into a temporary directory,
so every run sees exactly the samples it wrote. Backfilled samples are historical: query them with
an explicit `time` (instant) or `start`/`end`/`step` (range), never "now".
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

_READY_TIMEOUT_SECONDS = 60.0
_CONFIG = "global: {scrape_interval: 1h}\nscrape_configs: []\n"


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is not installed: install Debian's prometheus package (apt-get install prometheus)")
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _backfill(promtool: str, openmetrics_text: str, workdir: Path) -> Path:
    data = workdir / "data.om"
    data.write_text(openmetrics_text if openmetrics_text.rstrip().endswith("# EOF") else openmetrics_text + "# EOF\n")
    tsdb = workdir / "tsdb"
    result = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(data), str(tsdb)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"promtool could not backfill the test data: {result.stderr.strip() or result.stdout.strip()}"
        )
    return tsdb


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prometheus exited with code {process.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/-/ready", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"prometheus was not ready after {_READY_TIMEOUT_SECONDS:.0f}s: {log.read_text()[-2000:]}")


@contextlib.contextmanager
def running_prometheus(openmetrics_text: str) -> Iterator[str]:
    """Start Prometheus on a free loopback port with these samples; yield its base URL; stop it after.

    Raises RuntimeError with the reason when the binaries are missing, the data cannot be
    backfilled or the server does not become ready: a test that needs Prometheus must fail loudly.
    """
    prometheus, promtool = _binary("prometheus"), _binary("promtool")
    with tempfile.TemporaryDirectory(prefix="prometheus-test-") as tmp:
        workdir = Path(tmp)
        tsdb = _backfill(promtool, openmetrics_text, workdir)
        config = workdir / "prometheus.yml"
        config.write_text(_CONFIG)
        log = workdir / "prometheus.log"
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        with open(log, "wb") as log_file:
            process = subprocess.Popen(
                [
                    prometheus,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tsdb}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--storage.tsdb.retention.time=100y",
                ],
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_ready(process, url, log)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
