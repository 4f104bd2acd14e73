"""Sandbox: what one embedded-cluster pod costs — start latency, resident memory of its wrapper, ingress.

Starts `PODS` sandboxes of a small workload (a Python HTTP server on its port, 64 MiB limit, 100m CPU)
one after the other through `SandboxRuntime.start`, timing each call (it returns once bwrap has set
the sandbox up: namespaces, mounts, cgroups, fence). With all of them running it reads the resident
memory of each pod's own machinery — the bwrap parent and the init (PID 1: fence and relays), not the
workload — and times `ROUND_TRIPS` HTTP requests through one pod's ingress socket (new connection
each: ingress socket → init → 127.0.0.1:port inside). Then it stops them all. Sets the scale of
"hundreds of pods": the per-pod figure times the pod count is what the sandboxes add.

Run with `python -m bench.sandbox` (root, bwrap and cgroup v1 required).
"""

from __future__ import annotations

import socket
import statistics
import tempfile
import time
from pathlib import Path

from plugin_devcluster.containers import ContainerSpec
from plugin_devcluster.sandbox import SandboxContainer, SandboxRuntime

PODS = 20
ROUND_TRIPS = 200
SERVER = (
    "import http.server\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        self.send_response(200); self.send_header('Content-Length', '2'); self.end_headers()\n"
    "        self.wfile.write(b'ok')\n"
    "    def log_message(self, *args): pass\n"
    "http.server.HTTPServer(('127.0.0.1', 8080), H).serve_forever()"
)


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _get(ingress: Path) -> bytes:
    with socket.socket(socket.AF_UNIX) as client:
        client.connect(str(ingress))
        client.sendall(b"GET / HTTP/1.0\r\n\r\n")
        return b"".join(iter(lambda: client.recv(4096), b""))


def _ready(container: SandboxContainer, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if _get(container.ingress).endswith(b"ok"):
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"pod never answered: {container.log_path.read_text()[-500:]}")


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(pods: int = PODS, round_trips: int = ROUND_TRIPS) -> list[str]:
    runtime = SandboxRuntime()
    if not runtime.isolation().complete:
        raise RuntimeError(f"isolation incomplete here: {runtime.isolation().missing}")
    starts: list[float] = []
    containers: list[SandboxContainer] = []
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as root:
        try:
            for index in range(pods):
                spec = ContainerSpec(
                    pod=f"bench-{index}",
                    namespace="bench",
                    argv=("python", "-c", SERVER),
                    env={},
                    mounts=(),
                    port=8080,
                    workdir=Path(root) / str(index),
                    memory_limit_bytes=64 * 1024**2,
                    cpu_limit_millicores=100,
                    pids_limit=64,
                )
                began = time.perf_counter()
                containers.append(runtime.start(spec))
                starts.append((time.perf_counter() - began) * 1000)
            for container in containers:
                _ready(container)
            overhead = [_rss_mib(c.pid) + _rss_mib(c.init_pid) for c in containers]
            trips: list[float] = []
            for _ in range(round_trips):
                began = time.perf_counter()
                _get(containers[0].ingress)
                trips.append((time.perf_counter() - began) * 1000)
        finally:
            for container in containers:
                container.stop(2)
    return [
        f"sandbox start: p50 {statistics.median(starts):.1f} ms, p99 {_percentile(starts, 0.99):.1f} ms ({pods} pods)",
        f"sandbox per-pod overhead: {statistics.median(overhead):.1f} MiB RSS (bwrap + init, median of {pods})",
        f"sandbox ingress round trip: p50 {statistics.median(trips):.2f} ms, p99 {_percentile(trips, 0.99):.2f} ms",
    ]


if __name__ == "__main__":
    for line in run():
        print(line)
