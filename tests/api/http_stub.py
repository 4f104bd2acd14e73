"""A real HTTP server on a loopback port whose answers a test programs: a plugin runtime or a JWKS endpoint.

Real sockets, so the API's httpx client, its timeouts and connection errors are exercised as in
production; `requests` records what the server was asked, so a test can prove a call was (not) made.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit


@dataclasses.dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None
    delay: float = 0.0
    content_type: str = "application/json"


@dataclasses.dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: tuple[tuple[str, str], ...]


Handler = Callable[[Seen], Reply]


class StubServer:
    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.requests: list[Seen] = []
        stub = self

        class _Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                seen = Seen("GET", unquote(parts.path), tuple(parse_qsl(parts.query, keep_blank_values=True)))
                stub.requests.append(seen)
                handler = stub.routes.get(seen.path)
                reply = handler(seen) if handler else Reply(404, {"detail": f"no stub route {seen.path}"})
                if reply.delay:
                    time.sleep(reply.delay)
                payload = json.dumps(reply.body).encode() if reply.body is not None else b""
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (timeout tests)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def calls_to(self, path: str) -> list[Seen]:
        return [seen for seen in self.requests if seen.path == path]

    def start(self) -> StubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def refused_url() -> str:
    """A loopback URL nothing listens on (a port that was free a moment ago): connections are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def running() -> Iterator[StubServer]:
    """Generator body for fixtures: a started server, stopped afterwards."""
    server = StubServer().start()
    try:
        yield server
    finally:
        server.stop()
