"""A stdlib HTTP handler served on a free loopback port for a `with` block: the small local backends
tests and benchmarks stand up (a JWKS endpoint, a REST API, an upstream for a proxy)."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator

__all__ = ["serving"]


@contextlib.contextmanager
def serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """`http://127.0.0.1:<port>` while `handler` answers there; shut down and closed afterwards."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
