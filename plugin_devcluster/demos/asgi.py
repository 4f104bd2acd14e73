"""An ASGI app served by uvicorn in a daemon thread of this process, on a loopback address."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

_START_SECONDS = 15.0
_STOP_SECONDS = 15.0


class ThreadServer:
    """One app on `host:port` (0: a free port); the socket is bound before the server starts, so a taken
    port fails `start` with OSError instead of a log line in a thread."""

    def __init__(self, app: Any, *, name: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.name = name
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self._sock.bind((host, port))
        except OSError:
            self._sock.close()
            raise
        self.host, self.port = self._sock.getsockname()[:2]
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name=f"demo-{name}", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ThreadServer:
        self._thread.start()
        deadline = time.monotonic() + _START_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the {self.name} demo server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(_STOP_SECONDS)
        self._sock.close()
