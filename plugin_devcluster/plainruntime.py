"""A container runtime without isolation: each container is a plain process group on the host.

A stand-in for `sandbox.SandboxRuntime` where it is not available; `isolation()` says so, and the
kubelet reports it on every pod. Without a mount namespace the container's paths are rewritten to
the host directories behind its mounts (argv and env values starting with a mount target), and
without a network namespace the process listens on a free loopback port instead of its
`containerPort` (the value after `--port`, and a wildcard `--host`, are rewritten); its ingress
socket forwards to that port.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import socketserver
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from plugin_devcluster.containers import ContainerSpec, Isolation, Termination

__all__ = ["PlainRuntime"]

MISSING = ("mount namespace", "pid namespace", "network namespace", "unprivileged uid", "cgroup limits")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _remap(value: str, spec: ContainerSpec) -> str:
    for mount in sorted(spec.mounts, key=lambda m: len(m.target), reverse=True):
        if value == mount.target or value.startswith(mount.target + "/"):
            return str(mount.source) + value[len(mount.target) :]
    return ":".join(_remap(part, spec) for part in value.split(":")) if ":" in value else value


def _argv(spec: ContainerSpec, port: int) -> list[str]:
    argv = [_remap(arg, spec) for arg in spec.argv]
    for flag, value in (("--port", str(port)), ("--host", "127.0.0.1")):
        if flag in argv[:-1]:
            argv[argv.index(flag) + 1] = value
    return argv


def _pipe(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


class _Forwarder(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: Path, port: int) -> None:
        self.port = port

        class Handler(socketserver.BaseRequestHandler):
            def handle(inner) -> None:
                try:
                    upstream = socket.create_connection(("127.0.0.1", port), timeout=5)
                except OSError:
                    return
                upstream.settimeout(None)
                back = threading.Thread(target=_pipe, args=(upstream, inner.request), daemon=True)
                back.start()
                _pipe(inner.request, upstream)
                back.join()
                upstream.close()

        super().__init__(str(path), Handler)


class PlainContainer:
    def __init__(self, spec: ContainerSpec) -> None:
        self.port = _free_port()
        env = {key: _remap(value, spec) for key, value in spec.env.items()}
        log = open(spec.workdir / "container.log", "ab")  # noqa: SIM115  (the child keeps it)
        try:
            self._process = subprocess.Popen(
                _argv(spec, self.port), env=env, cwd=spec.workdir, stdout=log, stderr=log, start_new_session=True
            )
        finally:
            log.close()
        # Unix socket paths are limited to 107 bytes: a short directory of its own, not the pod's.
        self._ingress = Path(tempfile.mkdtemp(prefix="pod-")) / "ingress.sock"
        self._forwarder = _Forwarder(self._ingress, self.port)
        threading.Thread(target=self._forwarder.serve_forever, name=f"ingress-{spec.pod}", daemon=True).start()

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def ingress(self) -> Path:
        return self._ingress

    def poll(self) -> Termination | None:
        code = self._process.poll()
        if code is None:
            return None
        return Termination.COMPLETED if code == 0 else Termination.KILLED if code < 0 else Termination.ERROR

    def exit_code(self) -> int | None:
        code = self._process.poll()
        return None if code is None else (128 - code if code < 0 else code)

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signum)

    def stop(self, grace_seconds: float) -> None:
        self._signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        while self._process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        self._signal(signal.SIGKILL)  # the whole group, also children that outlived the leader
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(5)
        self._forwarder.shutdown()
        self._forwarder.server_close()
        shutil.rmtree(self._ingress.parent, ignore_errors=True)

    def cpu_seconds(self) -> float:
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == self._process.pid:  # the process group
                total += (int(fields[11]) + int(fields[12])) / ticks
        return total


class PlainRuntime:
    def isolation(self) -> Isolation:
        return Isolation(missing=MISSING)

    def start(self, spec: ContainerSpec) -> PlainContainer:
        return PlainContainer(spec)
