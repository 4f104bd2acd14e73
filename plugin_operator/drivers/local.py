"""Local driver: each plugin instance is a `plugin-runtime` process on a free loopback port.

Used by `make run` and the integration tests. Each instance has a directory under the state dir
holding its runtime config, its log and `process.json` (pid, port, admin token; mode 0600), so an
operator restarted mid-way adopts the processes it started instead of starting duplicates.
Processes get OS resource limits (address space, CPU time, open files) as their sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import secrets as pysecrets
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import yaml

from plugin_operator.drivers.base import Handle, Instance, RuntimeStartFailed
from plugin_operator.drivers.stable import StableAddresses
from plugin_operator.runtime_client import RuntimeClient
from plugin_runtime import sandbox

log = logging.getLogger(__name__)

ADMIN_TOKEN_ENV = "PLUGIN_RUNTIME_ADMIN_TOKEN"
#: What a runtime inherits from the operator's environment: enough to run Python, nothing else — the
#: operator's database URL, Fernet keys, kubeconfig and tokens are not the plugin's business.
_INHERITED = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "PYTHONPATH",
    "VIRTUAL_ENV",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child still "exists": reap it and report it dead
        waited, _ = os.waitpid(pid, os.WNOHANG)
        return waited == 0
    except ChildProcessError:
        return True


@dataclasses.dataclass(frozen=True)
class _Process:
    """An instance's `process.json`: what an operator restarted mid-way needs to adopt or stop it."""

    pid: int
    port: int
    admin_token: str


class LocalDriver:
    def __init__(
        self,
        *,
        state_dir: Path,
        client: RuntimeClient,
        start_timeout: float = 30.0,
        memory_limit_mb: int = 1024,
        cpu_limit_seconds: int = 3600,
        open_files_limit: int = 1024,
    ) -> None:
        self.state_dir = state_dir
        self.client = client
        self.start_timeout = start_timeout
        self.limits = (memory_limit_mb * 1024 * 1024, cpu_limit_seconds, open_files_limit)
        self.stable = StableAddresses(state_dir)

    def _dir(self, key: str, instance_id: str | None = None) -> Path:
        base = self.state_dir / "runtimes" / key
        return base / instance_id if instance_id else base

    def _read(self, key: str, instance_id: str) -> _Process | None:
        path = self._dir(key, instance_id) / "process.json"
        try:
            raw = json.loads(path.read_text())
            return _Process(pid=int(raw["pid"]), port=int(raw["port"]), admin_token=str(raw["admin_token"]))
        except (FileNotFoundError, ValueError):
            return None

    async def find(self, key: str, instance_id: str) -> Handle | None:
        record = self._read(key, instance_id)
        if record is None or not _alive(record.pid):
            return None
        handle = Handle(key, instance_id, f"http://127.0.0.1:{record.port}", record.admin_token)
        if not await self.client.live(handle.endpoint):
            return None
        await self._follow(handle, record.port)
        return handle

    async def _follow(self, handle: Handle, port: int) -> None:
        """Keep the plugin's stable address on its promoted instance (after a restart, on its new port;
        after an operator restart, listening again)."""
        if self.stable.promoted(handle.key) == handle.instance_id:
            await self.stable.route(handle.key, handle.instance_id, port)

    async def close(self) -> None:
        """The operator stops: stop listening on the stable addresses (the next operator listens again)."""
        await self.stable.close()

    def stable_endpoint(self, instance: Instance) -> str:
        """The plugin's address that survives version rollouts, re-enables and restarts."""
        return self.stable.url(instance.key)

    async def start(self, instance: Instance) -> Handle:
        existing = await self.find(instance.key, instance.instance_id)
        if existing is not None:
            return existing
        hung = self._read(instance.key, instance.instance_id)
        if hung is not None:  # alive but not answering: replaced now, so it is killed, never orphaned
            await self._terminate(hung.pid)
        directory = self._dir(instance.key, instance.instance_id)
        directory.mkdir(parents=True, exist_ok=True)
        # Links in answers name the plugin's stable address (what executors call), never a caller's Host.
        external = instance.runtime_config.external_url or self.stable.url(instance.key)
        config = instance.runtime_config.model_copy(update={"external_url": external}).model_dump(mode="json")
        (directory / "runtime.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        port, token = _free_port(), pysecrets.token_urlsafe(24)
        # MALLOC_ARENA_MAX keeps per-thread malloc arenas from eating the address-space limit.
        inherited = {name: os.environ[name] for name in _INHERITED if name in os.environ}
        env = {**inherited, "MALLOC_ARENA_MAX": "2", **instance.secrets, ADMIN_TOKEN_ENV: token}
        memory, cpu, files = self.limits
        # A plain Popen, not an asyncio subprocess: the runtime outlives this event loop (it is adopted
        # after an operator restart and stopped by pid), so no loop may own its child watcher.
        with open(directory / "runtime.log", "ab") as logfile:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "plugin_runtime.cli",
                    "--config",
                    str(directory / "runtime.yaml"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                env=env,
                stdout=logfile,
                stderr=logfile,
                start_new_session=True,
                preexec_fn=lambda: sandbox.apply_process_limits(memory, cpu, files),
            )
        record_path = directory / "process.json"
        record_path.write_text(json.dumps(dataclasses.asdict(_Process(pid=process.pid, port=port, admin_token=token))))
        record_path.chmod(0o600)
        handle = Handle(instance.key, instance.instance_id, f"http://127.0.0.1:{port}", token)
        deadline = asyncio.get_running_loop().time() + self.start_timeout
        while asyncio.get_running_loop().time() < deadline:
            if process.poll() is not None:
                raise RuntimeStartFailed(f"plugin-runtime exited with {process.returncode}: {self._tail(directory)}")
            if await self.client.live(handle.endpoint):
                log.info("runtime started", extra={"plugin_key": instance.key, "instance": instance.instance_id})
                await self._follow(handle, port)
                return handle
            await asyncio.sleep(0.1)
        await self.stop(instance.key, instance.instance_id)
        raise RuntimeStartFailed(
            f"plugin-runtime did not answer within {self.start_timeout:.0f}s: {self._tail(directory)}"
        )

    @staticmethod
    def _tail(directory: Path, lines: int = 5) -> str:
        try:
            text = (directory / "runtime.log").read_text(errors="replace").strip().splitlines()
        except FileNotFoundError:
            return "no output"
        return " | ".join(text[-lines:]) or "no output"

    async def promote(self, instance: Instance, handle: Handle) -> None:
        """Route the plugin's stable address to this instance."""
        port = int(handle.endpoint.rsplit(":", 1)[1])
        await self.stable.route(instance.key, handle.instance_id, port)

    async def stop(self, key: str, instance_id: str) -> None:
        record = self._read(key, instance_id)
        if record is not None:
            await self._terminate(record.pid)
        shutil.rmtree(self._dir(key, instance_id), ignore_errors=True)

    async def _terminate(self, pid: int, grace: float = 10.0) -> None:
        if not _alive(pid):
            return
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while loop.time() < deadline and _alive(pid):
            await asyncio.sleep(0.05)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)

    async def stop_all(self, key: str) -> None:
        await self.stable.forget(key)
        base = self._dir(key)
        if base.exists():
            for child in base.iterdir():
                await self.stop(key, child.name)
        shutil.rmtree(base, ignore_errors=True)

    async def keys(self) -> set[str]:
        runtimes = self.state_dir / "runtimes"
        return {folder.name for folder in runtimes.iterdir()} if runtimes.exists() else set()

    async def stop_everything(self) -> None:
        """Stop every runtime this state dir knows (runtimes outlive a killed operator on purpose)."""
        runtimes = self.state_dir / "runtimes"
        for folder in sorted(runtimes.iterdir()) if runtimes.exists() else []:
            await self.stop_all(folder.name)

    async def suspend(self, instance: Instance) -> None:
        await self.stop(instance.key, instance.instance_id)


def stop_local_runtimes(state_dir: Path) -> None:
    """Synchronous clean-up for a stopping `plugin-operator dev` (and the tests)."""

    async def stop() -> None:
        client = RuntimeClient()
        try:
            await LocalDriver(state_dir=state_dir, client=client).stop_everything()
        finally:
            await client.aclose()

    asyncio.run(stop())
