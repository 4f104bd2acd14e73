"""The demo backends `make run` starts before the operator and stops after it, and the banner lines
saying what runs where, and what does not and why.

Each backend listens on the address its example manifest names (`config.base_url`). One that cannot
start (a taken port, Prometheus not installed) is reported, never fatal: the rest of `make run` works
and that example plugin shows Degraded with the reason. Everything they write lives in
`<state>/demos`, removed on stop.
"""

from __future__ import annotations

import dataclasses
import errno
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from plugin_devcluster.demos import fleet, items, metrics, processes, prometheus
from plugin_devcluster.demos.asgi import ThreadServer

PROMETHEUS_PORT = 9090
REST_PORT = 8081
GRAPHQL_PORT = 8082
ELASTICSEARCH_URL = "http://127.0.0.1:9200"
HISTORY_SECONDS = 6 * 3600
HISTORY_STEP_SECONDS = 60
#: How often Prometheus scrapes the live exporter (tests ask for less, to see live samples sooner).
SCRAPE_SECONDS = 15


@dataclasses.dataclass(frozen=True)
class Backend:
    example: str
    kind: str
    url: str
    running: bool
    detail: str


class DemoStack:
    """The started backends; `stop` ends them and removes their data."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.backends: list[Backend] = []
        self._servers: list[ThreadServer] = []
        self._prometheus: subprocess.Popen[bytes] | None = None

    @classmethod
    def start(
        cls,
        state_dir: Path,
        *,
        prometheus_port: int = PROMETHEUS_PORT,
        rest_port: int = REST_PORT,
        graphql_port: int = GRAPHQL_PORT,
        elasticsearch_url: str = ELASTICSEARCH_URL,
        scrape_seconds: int = SCRAPE_SECONDS,
    ) -> DemoStack:
        workdir = state_dir / "demos"
        shutil.rmtree(workdir, ignore_errors=True)  # a previous run killed before its cleanup
        workdir.mkdir(parents=True)
        stack = cls(workdir)
        stack._start_prometheus(prometheus_port, scrape_seconds)
        stack._serve("rest-items", "REST demo", items.app(), rest_port, "/api", f"{items.COUNT} items")
        stack._serve(
            "graphql-fleet", "GraphQL demo", fleet.app(), graphql_port, "/graphql", f"{len(fleet.DATA)} servers"
        )
        stack.backends.append(_elasticsearch(elasticsearch_url))
        return stack

    def _serve(self, example: str, kind: str, app: Any, port: int, path: str, detail: str) -> None:
        url = f"http://127.0.0.1:{port}{path}"
        try:
            server = ThreadServer(app, name=kind, port=port).start()
        except OSError as exc:
            self.backends.append(Backend(example, kind, url, False, _port_problem(exc, port)))
            return
        self._servers.append(server)
        self.backends.append(Backend(example, kind, url, True, detail))

    def _start_prometheus(self, port: int, scrape_seconds: int) -> None:
        url = f"http://127.0.0.1:{port}"
        started = _attempt(lambda: self._prometheus_process(port, scrape_seconds))
        if isinstance(started, str):
            self.backends.append(Backend("prometheus-adapter", "Prometheus", url, False, started))
            return
        self._prometheus = started
        hours = HISTORY_SECONDS // 3600
        jobs = ", ".join(metrics.INSTANCES)
        detail = f"{metrics.METRIC}: {hours} h of history, live samples every {scrape_seconds} s (jobs {jobs})"
        self.backends.append(Backend("prometheus-adapter", "Prometheus", url, True, detail))

    def _prometheus_process(self, port: int, scrape_seconds: int) -> subprocess.Popen[bytes]:
        workdir = self.workdir / "prometheus"
        workdir.mkdir()
        prometheus.binary("prometheus")  # say "not installed" before starting anything
        exporter = ThreadServer(metrics.exporter(), name="metrics exporter").start()
        self._servers.append(exporter)
        now = time.time()
        history = metrics.openmetrics_history(now - HISTORY_SECONDS, now - 1, HISTORY_STEP_SECONDS)
        tsdb = prometheus.backfill(history, workdir)
        config = prometheus.scrape_config(exporter.url, list(metrics.INSTANCES), interval=f"{scrape_seconds}s")
        return prometheus.start(workdir, tsdb, port=port, config=config)

    def banner(self) -> str:
        """What runs where (and what does not, and why), for the `make run` banner."""
        lines = ["Demo backends for the example plugins (generated data; Ctrl-C stops them):"]
        for backend in self.backends:
            state = "running" if backend.running else "NOT RUNNING"
            lines.append(f"  {backend.example:<19} {backend.kind:<14} {backend.url:<31} {state}: {backend.detail}")
        return "\n".join(lines)

    def stop(self) -> None:
        if self._prometheus is not None:
            processes.stop(self._prometheus, timeout=10)
            self._prometheus = None
        for server in reversed(self._servers):
            server.stop()
        self._servers.clear()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _attempt(start: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes] | str:
    """The started process, or why it could not start, in one line."""
    try:
        return start()
    except RuntimeError as exc:
        text = str(exc)
        if "address already in use" in text:
            return "its port is already in use (another Prometheus?); the prometheus-adapter example uses it as is"
        return text.splitlines()[0][:200]


def _port_problem(exc: OSError, port: int) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} is already in use; its example plugin talks to whatever answers there"
    return f"cannot listen on port {port}: {exc.strerror or exc}"


def _elasticsearch(url: str) -> Backend:
    """Elasticsearch cannot run on this machine: say so, unless something already answers at `url`."""
    host, _, port = url.removeprefix("http://").partition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return Backend("elasticsearch-logs", "Elasticsearch", url, True, "found one already listening (not ours)")
    except OSError:
        reason = "no Elasticsearch server on this machine, so elasticsearch-logs stays Degraded (BackendHealthy=False)"
        return Backend("elasticsearch-logs", "Elasticsearch", url, False, reason)
