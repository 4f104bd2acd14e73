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
from collections.abc import Iterator
from pathlib import Path

from devservices import processes

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
            processes.wait_ready(process, f"{url}/-/ready", log, name="prometheus", timeout=_READY_TIMEOUT_SECONDS)
            yield url
        finally:
            processes.stop(process, timeout=10)
