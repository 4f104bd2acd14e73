"""The fixed loopback ports `make run` listens on, checked before anything starts.

Users export what the banner prints (`KUBECONFIG` names the API port, `http_proxy` the Service
proxy's), so the ports are stable from run to run: fixed defaults, each one a flag and a variable.
A port another process holds is reported up front naming the flag and the variable to change,
instead of a traceback from a bind half-way through the start (uvicorn would even exit its thread
and leave only "the API did not start"). Port 0 means any free port; the banner then shows the one
bound.
"""

from __future__ import annotations

import dataclasses
import errno
import socket

__all__ = ["Listener", "PortInUse", "check_free"]


@dataclasses.dataclass(frozen=True)
class Listener:
    what: str  # e.g. "the Service proxy"
    flag: str  # e.g. "--proxy-port"
    variable: str  # e.g. "PLUGIN_OPERATOR_PROXY_PORT"
    port: int


class PortInUse(Exception):
    """A port `make run` needs is held by another process; `str()` says which and how to change it."""


def check_free(host: str, listeners: list[Listener]) -> None:
    """Raise `PortInUse` for the first listener whose port another socket holds on `host`.

    Bound with SO_REUSEADDR, as the servers bind: a port a just-stopped run left in TIME_WAIT is free.
    """
    for listener in listeners:
        if listener.port == 0:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, listener.port))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                raise PortInUse(
                    f"port {listener.port} on {host}, for {listener.what}, is in use by another process "
                    f"(an earlier `make run` still running? `ss -ltnp 'sport = :{listener.port}'` shows it): "
                    f"stop it, or choose another port with {listener.flag} or {listener.variable} (0: any free port)"
                ) from None
