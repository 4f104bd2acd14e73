"""The outside half of the network fence: one Unix socket per declared egress endpoint.

The sandbox's init listens on each endpoint's address inside the pod's network namespace and relays
every connection to this endpoint's socket (in a 0700 root directory bound into the sandbox where only
the init can reach it); here each connection is joined to the real endpoint. Nothing else leaves the
namespace: it has only loopback. Relaying is `init.relay`, the same code as the inside half.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from plugin_devcluster.containers import Endpoint
from plugin_devcluster.sandbox.init import Acceptor, tcp_connector

__all__ = ["Connectors"]


class Connectors:
    """The listening sockets of one container's egress endpoints (index i ↔ `egress-i.sock`)."""

    def __init__(self, acceptor: Acceptor, directory: Path, egress: tuple[Endpoint, ...]) -> None:
        directory.mkdir(mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)
        self.directory = directory
        self._acceptor = acceptor
        self._listeners: list[socket.socket] = []
        for index, endpoint in enumerate(egress):
            path = directory / socket_name(index)
            path.unlink(missing_ok=True)
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(str(path))
            listener.listen(64)
            self._listeners.append(listener)
            acceptor.add(listener, tcp_connector(endpoint.host, endpoint.port))

    def close(self) -> None:
        for listener in self._listeners:
            self._acceptor.remove(listener)
        for index in range(len(self._listeners)):
            (self.directory / socket_name(index)).unlink(missing_ok=True)
        self._listeners.clear()


def socket_name(index: int) -> str:
    return f"egress-{index}.sock"
