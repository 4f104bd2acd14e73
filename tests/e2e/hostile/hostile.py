"""A plugin that attacks its own sandbox and reports, as rows, what it could and could not do.

Every query performs one attack, chosen by the custom option `attack`, with its targets as JSON in
`arg` (the test knows the host's paths, ports and pids; the plugin is told them as any attacker
would guess them). `init` already attacks before the first query (settings `init_*`); the query
`attack=init` returns what happened then. Nothing here raises on a failed attack: the outcome (the
exception's class name, or what succeeded) is the row, so the test asserts from inside.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import plugin_runtime as pr

VERSION = "1.0.0"
SAMPLE = 512  # bytes of whatever could be read: enough for the test to search it for secrets


def _outcome(exc: BaseException) -> str:
    return type(exc).__name__


def read(paths: list[str]) -> list[dict[str, Any]]:
    rows = []
    for path in paths:
        try:
            if os.path.isdir(path):
                rows.append({"target": path, "outcome": "listed", "detail": ",".join(sorted(os.listdir(path)))})
            else:
                with open(path, "rb") as handle:
                    data = handle.read(SAMPLE)
                rows.append({"target": path, "outcome": "read", "detail": data.decode("utf-8", "replace")})
        except OSError as exc:
            rows.append({"target": path, "outcome": _outcome(exc), "detail": str(exc.strerror)})
    return rows


def write(paths: list[str]) -> list[dict[str, Any]]:
    rows = []
    for path in paths:
        try:
            with open(path, "w") as handle:
                handle.write("hostile was here\n")
            rows.append({"target": path, "outcome": "written", "detail": ""})
        except OSError as exc:
            rows.append({"target": path, "outcome": _outcome(exc), "detail": str(exc.strerror)})
    return rows


def connect(targets: list[str]) -> list[dict[str, Any]]:
    """Each target is `host:port` or `unix:/path`; a connection sends a line and reads the reply."""
    rows = []
    for target in targets:
        try:
            if target.startswith("unix:"):
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                address: Any = target[5:]
            else:
                host, port = target.rsplit(":", 1)
                family = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)[0][0]
                sock = socket.socket(family, socket.SOCK_STREAM)
                address = (host, int(port))
            with sock:
                sock.settimeout(3)
                sock.connect(address)
                sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
                reply = sock.recv(64)
            rows.append({"target": target, "outcome": "connected", "detail": reply.decode("latin-1")})
        except OSError as exc:
            rows.append({"target": target, "outcome": _outcome(exc), "detail": str(exc)})
    return rows


def processes() -> list[dict[str, Any]]:
    """Every process this sandbox's /proc shows, with its command line and whether its environ reads."""
    rows = []
    for entry in sorted(Path("/proc").iterdir(), key=lambda p: p.name):
        if not entry.name.isdigit():
            continue
        row: dict[str, Any] = {"target": entry.name}
        try:
            row["cmdline"] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError as exc:
            row["cmdline"] = _outcome(exc)
        try:
            row["outcome"], row["detail"] = "read", (entry / "environ").read_bytes()[:SAMPLE].decode("utf-8", "replace")
        except OSError as exc:
            row["outcome"], row["detail"] = _outcome(exc), ""
        rows.append(row)
    return rows


def kill(pids: list[int]) -> list[dict[str, Any]]:
    """SIGKILL to each pid; -1 is every process this uid may signal (outside a pid namespace: every
    runtime on the host, they share the uid)."""
    rows = []
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
            rows.append({"target": str(pid), "outcome": "signalled", "detail": ""})
        except OSError as exc:
            rows.append({"target": str(pid), "outcome": _outcome(exc), "detail": str(exc.strerror)})
    return rows


#: A fork bomb as a separate program would run it: fork children that wait until the kernel refuses,
#: print how far it got, then kill and reap them.
BOMB = """
import os, signal, sys
children, error = [], "none"
try:
    while len(children) < int(sys.argv[1]):
        pid = os.fork()
        if pid == 0:
            signal.pause()
            os._exit(0)
        children.append(pid)
except OSError as exc:
    error = type(exc).__name__
for pid in children:
    os.kill(pid, signal.SIGKILL)
for pid in children:
    os.waitpid(pid, 0)
print(error, len(children))
"""


def fork_bomb(most: int) -> list[dict[str, Any]]:
    """Run the bomb in a process of its own (forking the many-threaded runtime itself hundreds of times
    is not what an attacker needs); the runtime waits for its report and goes on."""
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", BOMB, str(most)], capture_output=True, text=True, timeout=60, check=False
    )
    error, forked = [*done.stdout.split(), "no-report", "0"][:2]
    return [{"target": "fork", "outcome": error, "detail": forked}]


def allocate(size: int) -> list[dict[str, Any]]:
    """Hold `size` bytes, written (not just reserved: every page is charged to the memory cgroup), in
    64 MiB blocks so no single request is refused by the kernel's overcommit heuristic."""
    chunk, blocks = 64 * 1024**2, []
    while len(blocks) * chunk < size:
        blocks.append(b"x" * chunk)
    return [{"target": "allocate", "outcome": "allocated", "detail": str(len(blocks) * chunk)}]


def burn(seconds: float) -> list[dict[str, Any]]:
    """Keep this (the runtime) process busy in a thread for `seconds` of wall time."""

    def spin() -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            sum(range(1000))

    threading.Thread(target=spin, daemon=True, name="hostile-burner").start()
    return [{"target": "burn", "outcome": "started", "detail": str(os.getpid())}]


def daemon(marker: str) -> list[dict[str, Any]]:
    """A double-forked, session-leading process named `marker` that would outlive a careless stop."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                os.execv("/bin/sleep", [marker, "3600"])
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    return [{"target": marker, "outcome": "spawned", "detail": ""}]


class HostilePlugin:
    """The attacker: `execute_query` dispatches on the `attack` option."""

    def __init__(self) -> None:
        self._queries: set[str] = set()
        self._at_init: list[dict[str, Any]] = []

    def metadata(self) -> pr.PluginMetadata:
        return pr.PluginMetadata(
            id="hostile",
            name="Hostile",
            version=VERSION,
            author="tests",
            description="Tries to read, reach, signal, exhaust and outlive what its sandbox should keep from it.",
            contract_format=pr.ContractFormat.CUSTOM,
        )

    def init(self, config: pr.PluginConfig) -> None:
        self._queries = {query.id for query in config.queries}
        settings = config.settings
        rows = [
            *read(list(settings.get("init_read", []))),
            *write(list(settings.get("init_write", []))),
            *connect(list(settings.get("init_connect", []))),
            *processes(),
            *read(["/proc/1/environ"]),
        ]
        if settings.get("init_marker"):
            rows += daemon(str(settings["init_marker"]))
        self._at_init = rows

    def before_jwt_sign(self, ctx: pr.SecurityCtx, claims: dict[str, Any]) -> dict[str, Any]:
        return claims

    def execute_query(self, ctx: pr.SecurityCtx, query_id: str, params: pr.ODataParams) -> pr.QueryResult:
        if query_id not in self._queries:
            raise pr.NotFound(f"hostile serves no query {query_id!r}")
        attack = params.custom.get("attack", "")
        arg = json.loads(params.custom.get("arg", "null"))
        attacks = {
            "init": lambda: self._at_init,
            "read": lambda: read(arg),
            "write": lambda: write(arg),
            "connect": lambda: connect(arg),
            "processes": processes,
            "environ": lambda: [{"target": k, "outcome": "read", "detail": v} for k, v in os.environ.items()],
            "kill": lambda: kill(arg),
            "fork_bomb": lambda: fork_bomb(int(arg)),
            "allocate": lambda: allocate(int(arg)),
            "burn": lambda: burn(float(arg)),
            "daemon": lambda: daemon(str(arg)),
            "identity": lambda: [{"target": "uid", "outcome": str(os.getuid()), "detail": sys.executable}],
        }
        if attack not in attacks:
            raise pr.InvalidInput(f"unknown attack {attack!r}; one of {sorted(attacks)}")
        rows = attacks[attack]()
        return pr.QueryResult(rows=tuple(rows), entity_set="outcomes", count=len(rows))

    def health_check(self) -> pr.HealthStatus:
        return pr.HealthStatus(pr.HealthState.HEALTHY)

    def shutdown(self) -> None:
        self._at_init = []
