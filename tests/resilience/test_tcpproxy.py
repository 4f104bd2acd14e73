"""The fault injector itself: the TCP proxy forwards bytes, and a cut looks like a server that went down."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from tests.support.tcpproxy import TcpProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data.upper())


@pytest.fixture
def echo_port() -> Iterator[int]:
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo) as server:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield server.server_address[1]
        server.shutdown()


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def _exchange(sock: socket.socket, text: bytes) -> bytes:
    sock.sendall(text)
    return sock.recv(4096)


def test_cut_closes_open_connections_refuses_new_ones_and_restore_reopens_the_same_port(echo_port: int) -> None:
    with TcpProxy("127.0.0.1", echo_port) as proxy:
        port = proxy.port
        with _connect(port) as before:
            assert _exchange(before, b"hello") == b"HELLO"
            assert proxy.open_connections == 1

            proxy.cut()

            assert proxy.is_cut and proxy.open_connections == 0
            assert before.recv(4096) == b"", "the open connection was closed by the cut"
        with pytest.raises(ConnectionRefusedError):
            _connect(port)

        proxy.restore()

        assert proxy.port == port and not proxy.is_cut
        with _connect(port) as after:
            assert _exchange(after, b"back") == b"BACK"
        assert proxy.accepted == 2


def test_a_target_that_is_down_resets_the_client() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        with TcpProxy("127.0.0.1", closed.getsockname()[1]) as proxy, _connect(proxy.port) as client:
            assert client.recv(4096) == b""
            assert proxy.accepted == 0
