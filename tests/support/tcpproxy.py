"""A real TCP proxy on loopback that a test can cut and restore, to take a service "down" and back.

    with TcpProxy("127.0.0.1", 5432) as proxy:          # listens on a free loopback port
        url = f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}/test"
        proxy.cut()        # open connections are closed; new ones are refused (nothing listens)
        proxy.restore()    # listens again on the same port; new connections reach the target

Cutting closes the listening socket instead of accepting and hanging up, so clients see what they
see when a server is down: "connection refused" at once, not a timeout. Bytes are forwarded
unchanged both ways. The proxy runs in its own thread and event loop (`BackgroundLoop`), so
synchronous tests and the code under test, whatever its threads, use it alike.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, Self, TypeVar

__all__ = ["BackgroundLoop", "TcpProxy"]

T = TypeVar("T")
_CHUNK = 64 * 1024
_CALL_TIMEOUT = 10.0


class BackgroundLoop:
    """An asyncio event loop running in a daemon thread; `call` runs a coroutine there and waits."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def call(self, coroutine: Coroutine[Any, Any, T], *, timeout: float = _CALL_TIMEOUT) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(_CALL_TIMEOUT)
        self.loop.close()


class TcpProxy:
    """Forwards every connection on `host:port` (port 0: a free one) to `target_host:target_port`."""

    def __init__(self, target_host: str, target_port: int, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.target = (target_host, target_port)
        self.host = host
        self.port = port
        #: Connections accepted and forwarded since the start (a cut proxy accepts none).
        self.accepted = 0
        self._loop: BackgroundLoop | None = None
        self._server: asyncio.Server | None = None
        #: Each forwarding task with its (client, upstream) connections.
        self._links: dict[asyncio.Task[None], tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = {}

    # Lifecycle -----------------------------------------------------------------------------------

    def start(self) -> Self:
        self._loop = BackgroundLoop(f"tcpproxy:{self.target[1]}")
        self._running().call(self._listen())
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call(self._close_all())
            self._loop.close()
            self._loop = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # Faults --------------------------------------------------------------------------------------

    @property
    def is_cut(self) -> bool:
        return self._server is None

    @property
    def open_connections(self) -> int:
        """Client connections currently forwarded (each has one upstream connection beside it)."""
        return len(self._links)

    def cut(self) -> None:
        """Stop listening and close every forwarded connection, both sides, now."""
        self._running().call(self._close_all())

    def restore(self) -> None:
        """Listen again on the same port."""
        if self.is_cut:
            self._running().call(self._listen())

    # Internals -----------------------------------------------------------------------------------

    def _running(self) -> BackgroundLoop:
        if self._loop is None:
            raise RuntimeError("the proxy is not started")
        return self._loop

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._forward, self.host, self.port, reuse_address=True)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _close_all(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for pair in self._links.values():
            for writer in pair:
                writer.transport.abort()
        await asyncio.gather(*self._links, return_exceptions=True)

    async def _forward(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()  # the target is down too: the client sees a reset
            return
        pair = (client_writer, upstream_writer)
        if self.is_cut:  # cut while this connection was being set up: it must not survive the cut
            for writer in pair:
                writer.transport.abort()
            return
        self.accepted += 1
        task = asyncio.current_task()
        assert task is not None
        self._links[task] = pair
        try:
            await asyncio.gather(
                _pipe(client_reader, upstream_writer), _pipe(upstream_reader, client_writer), return_exceptions=True
            )
        finally:
            for writer in pair:
                writer.transport.abort()
            self._links.pop(task, None)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until end of stream, then half-close the other side (as the sender did)."""
    while data := await reader.read(_CHUNK):
        writer.write(data)
        await writer.drain()
    if writer.can_write_eof() and not writer.transport.is_closing():
        writer.write_eof()
