"""A lighter HTTP/1.1 transport under httpx for plain-HTTP backends: one `sendall`, `http.client` parsing.

httpx's own transport (httpcore + h11, pure Python) costs about a third of a small query's CPU in
the runtime, and sends a request's head and body in two system calls, each waking the backend.
Here a request is written in one `sendall` and its answer parsed by the stdlib's
`http.client.HTTPResponse` (status line, headers, Content-Length or chunked body). httpx stays the
client — auth flows (OAuth2 tokens), headers, timeouts, and the error types the adapters retry
on — only the bytes on the wire change hands. HTTPS backends keep httpx's transport (TLS settings,
mTLS), and proxies from the environment still apply (httpx mounts them ahead of this transport).

Connections are kept alive in a small pool shared by the plugin's worker threads. A request that
finds its kept-alive connection closed by the server is sent once more on a fresh connection, as
httpcore does; on a fresh connection that is the backend's failure (RemoteProtocolError).
"""

from __future__ import annotations

import http.client
import socket
import threading
from typing import Any

import httpx

__all__ = ["StdlibTransport"]

_POOL_SIZE = 8
#: Raised when a kept-alive connection turned out to be closed before any answer came back.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
_SKIPPED_HEADERS = {b"transfer-encoding", b"content-length"}  # the body goes whole, with its length


def _message(request: httpx.Request, body: bytes) -> bytes:
    """The request's bytes: request line, httpx's headers (Host included), its length, the body."""
    lines = [b"%s %s HTTP/1.1" % (request.method.encode("ascii"), request.url.raw_path)]
    lines.extend(
        b"%s: %s" % (name, value) for name, value in request.headers.raw if name.lower() not in _SKIPPED_HEADERS
    )
    if body or request.method in ("POST", "PUT", "PATCH"):
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class StdlibTransport(httpx.BaseTransport):
    """An httpx transport for `http://` URLs over pooled sockets."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, int], list[socket.socket]] = {}
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme != "http":
            raise httpx.UnsupportedProtocol(f"{request.url.scheme} is not served by this transport", request=request)
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        address = (request.url.host, request.url.port or 80)
        message = _message(request, request.read())
        with self._lock:
            idle = self._idle.get(address)
            sock = idle.pop() if idle else None
        reused = sock is not None
        while True:
            if sock is None:
                sock = self._connect(address, request, timeouts)
            try:
                return self._exchange(sock, address, request, message, timeouts)
            except _STALE as exc:
                sock.close()
                if not reused:
                    raise httpx.RemoteProtocolError(
                        f"the server closed the connection ({exc!r})", request=request
                    ) from exc
                sock, reused = None, False
            except BaseException:
                sock.close()
                raise

    def _exchange(
        self,
        sock: socket.socket,
        address: tuple[str, int],
        request: httpx.Request,
        message: bytes,
        timeouts: dict[str, Any],
    ) -> httpx.Response:
        try:
            sock.settimeout(timeouts.get("write"))
            sock.sendall(message)
            sock.settimeout(timeouts.get("read"))
            answer = http.client.HTTPResponse(sock, method=request.method)
            answer.begin()
            content = answer.read()
        except _STALE:
            raise
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out", request=request) from exc
        except (http.client.HTTPException, OSError) as exc:
            raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__, request=request) from exc
        if answer.will_close:
            sock.close()
        else:
            self._release(address, sock)
        return httpx.Response(
            answer.status,
            headers=answer.getheaders(),
            stream=httpx.ByteStream(content),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": answer.reason.encode("latin-1")},
            request=request,
        )

    @staticmethod
    def _connect(address: tuple[str, int], request: httpx.Request, timeouts: dict[str, Any]) -> socket.socket:
        try:
            sock = socket.create_connection(address, timeout=timeouts.get("connect"))
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc) or "timed out", request=request) from exc
        except OSError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _release(self, address: tuple[str, int], sock: socket.socket) -> None:
        with self._lock:
            idle = self._idle.setdefault(address, [])
            if len(idle) < _POOL_SIZE:
                idle.append(sock)
                return
        sock.close()

    def close(self) -> None:
        with self._lock:
            sockets = [sock for idle in self._idle.values() for sock in idle]
            self._idle.clear()
        for sock in sockets:
            sock.close()
