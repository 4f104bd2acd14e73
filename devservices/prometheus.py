"""A real Prometheus server for tests, loaded with deterministic historical samples.

Debian's `prometheus` package provides the binaries (started by `plugin_devcluster.demos.prometheus`,
which `make run` uses too); nothing in this module mocks the server. The data is backfilled with
`promtool tsdb create-blocks-from openmetrics` into a temporary directory, so every run sees exactly
the samples it wrote. Backfilled samples are historical: query them with an explicit `time` (instant)
or `start`/`end`/`step` (range), never "now".
"""

from __future__ import annotations

import contextlib
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

from devservices import processes
from plugin_devcluster.demos import prometheus


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_prometheus(openmetrics_text: str) -> Iterator[str]:
    """Start Prometheus on a free loopback port with these samples; yield its base URL; stop it after.

    Raises RuntimeError with the reason when the binaries are missing, the data cannot be
    backfilled or the server does not become ready: a test that needs Prometheus must fail loudly.
    """
    with tempfile.TemporaryDirectory(prefix="prometheus-test-") as tmp:
        workdir = Path(tmp)
        tsdb = prometheus.backfill(openmetrics_text, workdir)
        port = _free_port()
        process = prometheus.start(workdir, tsdb, port=port)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            processes.stop(process, timeout=10)
