"""`plugin-runtime` itself starts inside the sandbox, loads a mounted plugin folder and answers through ingress."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from plugin_devcluster.containers import ContainerSpec, Mount
from plugin_devcluster.sandbox import SandboxRuntime

REPO = Path(__file__).resolve().parents[2]
RUNTIME_YAML = """\
plugins_dir: /plugins
watch_interval_seconds: null
plugins:
  - id: hello-world
    version: 1.0.0
    path: hello-world
"""


def get(ingress: Path, path: str, timeout: float = 60) -> tuple[int, dict[str, object]]:
    """GET over the ingress socket, retrying while the runtime is not listening yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(str(ingress))
            try:
                client.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
                reply = b"".join(iter(lambda: client.recv(65536), b""))
            except (BrokenPipeError, ConnectionResetError):  # not listening yet: the relay closed at once
                reply = b""
        if reply:
            head, _, body = reply.partition(b"\r\n\r\n")
            return int(head.split()[1]), json.loads(body)
        time.sleep(0.2)
    raise AssertionError(f"no answer on {ingress} for {path}")


def test_plugin_runtime_answers_health_through_ingress(runtime: SandboxRuntime, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "runtime.yaml").write_text(RUNTIME_YAML)
    spec = ContainerSpec(
        pod="hello-world-0",
        namespace="plugins",
        argv=("plugin-runtime", "--config", "/etc/plugin-runtime/runtime.yaml", "--host", "0.0.0.0", "--port", "8080"),
        env={},
        mounts=(
            Mount("/etc/plugin-runtime", config),
            Mount("/plugins/hello-world", REPO / "examples" / "plugins" / "hello-world"),
        ),
        port=8080,
        workdir=tmp_path / "pod",
        memory_limit_bytes=512 * 1024**2,
        cpu_limit_millicores=500,
        pids_limit=256,
    )
    container = runtime.start(spec)
    try:
        assert get(container.ingress, "/health/live") == (200, {"status": "alive"})
        status, health = get(container.ingress, "/health")
        assert status == 200
        plugins = health["plugins"]
        assert isinstance(plugins, list)
        assert [(p["plugin_id"], p["state"]) for p in plugins] == [("hello-world", "Active")]
    finally:
        container.stop(10)
    assert container.members() == []
