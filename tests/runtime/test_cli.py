"""`plugin-runtime` as the operator runs it: a real process, its exit codes, signals and limits."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from .support import GOOD_QUERY, plugin_entry, wait_for, write_config

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "plugins" / "runtime.yaml"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plugin_runtime.cli", *args], capture_output=True, text=True, timeout=60, cwd=REPO
    )


def test_validate_reports_every_plugin_and_succeeds() -> None:
    result = run_cli("--validate", "--config", str(EXAMPLES))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "ok      hello-world 1.0.0 (plugins-dir:hello-world, 1 queries)",
        "ok      local-metrics 0.1.0 (entry-point:localsql, 1 queries)",
    ]


def test_validate_fails_when_any_plugin_fails(tmp_path: Path, plugins_dir: Path) -> None:
    config = write_config(
        tmp_path,
        {
            "plugins_dir": "does-not-matter",  # --plugins-dir overrides it
            "plugins": [plugin_entry("good"), plugin_entry("import-error"), plugin_entry("good", path="packaged")],
        },
    )
    result = run_cli("--validate", "--config", str(config), "--plugins-dir", str(plugins_dir))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "ok      good 1.0.0 (plugins-dir:good, 1 queries)",
        "FAILED  good [manifest] plugin id is already used by an earlier entry",
        "FAILED  import-error [import] ModuleNotFoundError: No module named 'a_module_that_does_not_exist'",
    ]


def test_unusable_config_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "runtime.yaml"
    config.write_text("plugins: 3\n")
    result = run_cli("--validate", "--config", str(config))
    assert result.returncode == 2 and "plugins" in result.stderr
    assert run_cli("--config", str(tmp_path / "missing.yaml")).returncode == 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def runtime_process(config: Path, *, log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "plugin_runtime.cli", "--config", str(config), "--port", str(port)],
            stdout=output,
            stderr=output,
            cwd=REPO,
        )
    url = f"http://127.0.0.1:{port}"
    try:

        def live() -> bool:
            assert process.poll() is None, log.read_text()
            try:
                return httpx.get(f"{url}/health/live", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(live, timeout=30, what="the runtime process to serve")
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serves_reloads_on_sighup_and_drains_on_sigterm(tmp_path: Path, plugins_dir: Path) -> None:
    marker = tmp_path / "shutdowns.txt"
    entry: dict[str, Any] = plugin_entry("good", settings={"delay": 1.0, "shutdown_marker": str(marker)})
    config_data = {"plugins_dir": str(plugins_dir), "drain_seconds": 10, "plugins": [entry]}
    config = write_config(tmp_path, config_data)
    log = tmp_path / "runtime.log"
    with runtime_process(config, log=log) as (process, url):
        body = httpx.get(f"{url}/queries/{GOOD_QUERY}?$count=true", timeout=10).json()
        assert body["@odata.count"] == 25

        entry["settings"] = entry["settings"] | {"rows": 4}
        write_config(tmp_path, config_data)
        process.send_signal(signal.SIGHUP)
        wait_for(
            lambda: httpx.get(f"{url}/queries/{GOOD_QUERY}?$count=true", timeout=10).json()["@odata.count"] == 4,
            what="SIGHUP to re-read the config",
        )
        wait_for(lambda: marker.exists(), what="the replaced instance's shutdown")

        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(httpx.get, f"{url}/queries/{GOOD_QUERY}", timeout=10)
            time.sleep(0.3)
            process.send_signal(signal.SIGTERM)
            assert in_flight.result().status_code == 200  # finished, not cut off
        assert process.wait(timeout=20) == 0
    assert marker.read_text() == "1.0.0\n1.0.0\n"  # both instances were shut down
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    loaded = [line for line in lines if line["message"] == "plugin loaded"]
    assert [line["plugin_id"] for line in loaded] == ["good", "good"]
