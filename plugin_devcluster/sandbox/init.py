"""PID 1 of a sandbox: set up the network fence, start the workload unprivileged, relay, reap, forward SIGTERM.

Runs as a script (`python -I -S init.py CONFIG_FD`) with the standard library only: inside the sandbox
nothing of this checkout but this one file is visible, and `-I -S` keep the workload's env (PYTHON*)
and site-packages out of this still-privileged process. Its configuration — workload argv and env
included — arrives as JSON on an inherited file descriptor, never on a command line.

While privileged it adds the egress addresses to `lo` and binds the egress listeners; the workload is
then started through `setpriv` with its uid/gid, no groups, no capabilities and no_new_privs. Each
connection to an egress listener is relayed through the host's Unix socket for that endpoint; each
connection on the inherited ingress socket is relayed to 127.0.0.1:port. The host side
(`fence.Connectors`) reuses `relay` from here, so both ends pump bytes the same way.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import cast

BUFFER = 65536


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy one direction until EOF, then half-close the other side (so request/response protocols finish)."""
    try:
        while data := source.recv(BUFFER):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def relay(client: socket.socket, connect: Callable[[], socket.socket]) -> None:
    """Join `client` to a fresh upstream connection, both directions, closing both when done."""
    try:
        upstream = connect()
    except OSError:
        client.close()
        return
    back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
    back.start()
    _pump(client, upstream)
    back.join()
    client.close()
    upstream.close()


class Acceptor:
    """One thread accepting on any number of listeners; each connection is relayed in its own threads.

    The host keeps one for every container's egress sockets, the init one for its pod's listeners, so
    an idle pod costs no thread at all."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._thread = threading.Thread(target=self._loop, name="sandbox-acceptor", daemon=True)
        self._started = False
        self._lock = threading.Lock()

    def add(self, listener: socket.socket, connect: Callable[[], socket.socket]) -> None:
        listener.setblocking(False)
        self._selector.register(listener, selectors.EVENT_READ, connect)
        with self._lock:
            if not self._started:
                self._started = True
                self._thread.start()

    def remove(self, listener: socket.socket) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(listener)
        listener.close()

    def _loop(self) -> None:
        while True:
            for key, _ in self._selector.select():
                listener = cast(socket.socket, key.fileobj)
                try:
                    client, _ = listener.accept()
                except OSError:  # raced by another accept or a removal
                    continue
                client.setblocking(True)
                threading.Thread(target=relay, args=(client, key.data), daemon=True).start()


def tcp_connector(host: str, port: int) -> Callable[[], socket.socket]:
    return lambda: socket.create_connection((host, port), timeout=10)


def unix_connector(path: str) -> Callable[[], socket.socket]:
    def connect() -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
        except OSError:
            sock.close()
            raise
        return sock

    return connect


def _listen_tcp(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(64)
    return sock


def _add_loopback_addresses(addresses: list[str]) -> None:
    for address in addresses:
        # IPv6: `nodad`, else the address stays tentative (unbindable) until duplicate detection ends.
        ipv6 = ipaddress.ip_address(address).version == 6
        extra = ["nodad"] if ipv6 else []
        subprocess.run(["ip", "addr", "add", f"{address}/{128 if ipv6 else 32}", "dev", "lo", *extra], check=True)


def _workload_argv(config: dict[str, object]) -> list[str]:
    argv = [str(part) for part in cast(list[object], config["argv"])]
    setpriv = config.get("setpriv")
    if not setpriv:
        return argv
    uid, gid = config["uid"], config["gid"]
    drop = [f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--inh-caps=-all", "--ambient-caps=-all"]
    return [str(setpriv), *drop, "--bounding-set=-all", "--no-new-privs", "--", *argv]


def main(config_fd: int) -> int:
    with os.fdopen(config_fd, "rb") as handle:
        config = json.load(handle)
    acceptor = Acceptor()
    if config["fence"]:
        _add_loopback_addresses(config["addresses"])
        for rule in config["egress"]:
            acceptor.add(_listen_tcp(rule["host"], rule["port"]), unix_connector(rule["socket"]))
    ingress = socket.socket(fileno=int(config["ingress_fd"]))
    acceptor.add(ingress, tcp_connector("127.0.0.1", int(config["port"])))
    env = {str(k): str(v) for k, v in config["env"].items()}
    workload = subprocess.Popen(_workload_argv(config), env=env, cwd=config["cwd"], close_fds=True)
    del config, env
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, lambda signum, _frame: _forward(workload.pid, signum))
    return _reap_until(workload.pid)


def _forward(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _reap_until(pid: int) -> int:
    """Reap every child (orphans re-parent to PID 1) until the workload exits; return its status."""
    while True:
        try:
            reaped, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 1
        except InterruptedError:  # pragma: no cover - PEP 475 retries, kept for clarity
            continue
        if reaped == pid:
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
