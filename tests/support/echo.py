"""A TCP backend for network tests: proves a connection got through, and to whom."""

from __future__ import annotations

import socket
import threading


class EchoServer:
    """A TCP listener on the host answering each connection with b"echo:" + the first bytes it got
    (one read of at most `read` bytes)."""

    def __init__(self, host: str = "127.0.0.1", *, read: int = 100) -> None:
        self.read = read
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.listener = socket.create_server((host, 0), family=family)
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            with conn:
                conn.sendall(b"echo:" + conn.recv(self.read))

    def close(self) -> None:
        self.listener.close()
