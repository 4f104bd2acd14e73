"""Real HTTP servers on loopback ports for adapter tests (upstreams, stubs that stall or fail).

A test gives a handler `Request → Reply`; the server runs it in a thread per request and records
every request, so the test can assert what the adapter actually sent over the wire.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclasses.dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    #: The common name of the client certificate (mutual TLS servers only).
    peer: str | None = None

    @property
    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))

    @property
    def args(self) -> dict[str, str]:
        return dict(self.query)


@dataclasses.dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None  # JSON-encoded unless bytes/str
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


Handler = Callable[[Request], Reply]


@dataclasses.dataclass
class Server:
    url: str
    requests: list[Request]


def _handler_class(handle: Handler, requests: list[Request]) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            parts = urlsplit(self.path)
            request = Request(
                method=self.command,
                path=parts.path,
                query=parse_qsl(parts.query, keep_blank_values=True),
                headers={key.lower(): value for key, value in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
                peer=_peer_name(self.connection),
            )
            requests.append(request)
            reply = handle(request)
            if isinstance(reply.body, bytes):
                payload, content_type = reply.body, "application/octet-stream"
            elif isinstance(reply.body, str):
                payload, content_type = reply.body.encode(), "text/plain"
            else:
                payload, content_type = json.dumps(reply.body).encode(), "application/json"
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.headers.get("Content-Type", content_type))
                for key, value in reply.headers.items():
                    if key != "Content-Type":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test): nothing left to tell it

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return _Handler


def _peer_name(connection: Any) -> str | None:
    if not isinstance(connection, ssl.SSLSocket):
        return None
    subject = (connection.getpeercert() or {}).get("subject", ())
    return next((value for rdn in subject for key, value in rdn if key == "commonName"), None)


@contextlib.contextmanager
def serving(handle: Handler, *, tls: ssl.SSLContext | None = None) -> Iterator[Server]:
    """Run `handle` behind a real HTTP(S) server on 127.0.0.1:<free port> for the `with` block.

    With `tls` the server speaks HTTPS (and asks for client certificates if the context does); a
    client failing the handshake is dropped before any request is recorded.
    """
    requests: list[Request] = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(handle, requests))
    httpd.daemon_threads = True
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        scheme = "https" if tls is not None else "http"
        yield Server(url=f"{scheme}://127.0.0.1:{httpd.server_address[1]}", requests=requests)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def closed_port_url() -> str:
    """A loopback URL where nothing listens (connections are refused): a backend that is down."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
