"""The plain-HTTP transport under the adapters' httpx client: what goes on the wire and what comes back."""

from __future__ import annotations

import gzip
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import pytest

from adapters._common import http as backend_http
from adapters._common.transport import StdlibTransport
from devservices.http import serving


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections = 0  # accepted by the test's server (one server per test, reset by `_server`)

    def setup(self) -> None:
        super().setup()
        _Handler.connections += 1

    def _reply(self, body: bytes, **headers: str) -> None:
        self.send_response(200)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        if "Transfer_Encoding" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"first,", b"second", b""):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        elif self.path == "/gzip":
            self._reply(gzip.compress(b"unzipped"), Content_Encoding="gzip")
        elif self.path == "/close":
            self._reply(b"bye", Connection="close")
            self.close_connection = True
        elif self.path == "/slow":
            time.sleep(1.0)
            self._reply(b"late")
        else:
            self._reply(f"{self.path} {self.headers.get('X-Token')}".encode())

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self._reply(self.headers["Content-Type"].encode() + b" " + body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def _server() -> Iterator[str]:
    _Handler.connections = 0
    with serving(_Handler) as url:
        yield url


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with _server() as url, httpx.Client(base_url=url, transport=StdlibTransport(), timeout=5) as http_client:
        yield http_client


def test_requests_and_answers_pass_unchanged_on_one_kept_alive_connection(client: httpx.Client) -> None:
    assert client.get("/plain?x=1%202", headers={"X-Token": "t"}).text == "/plain?x=1%202 t"
    posted = client.post("/api/v1/query", data={"query": 'up{job="a b"}', "time": "1"})
    assert posted.text == "application/x-www-form-urlencoded query=up%7Bjob%3D%22a+b%22%7D&time=1"
    assert client.get("/chunked").content == b"first,second"
    assert client.get("/gzip").content == b"unzipped"  # httpx still decodes what it asked for
    assert _Handler.connections == 1


def test_a_connection_the_server_closed_is_replaced(client: httpx.Client) -> None:
    assert client.get("/close").text == "bye"  # `Connection: close`: not kept
    assert client.get("/after").status_code == 200
    assert _Handler.connections == 2


def test_a_kept_connection_closed_while_idle_is_retried_once_on_a_new_one() -> None:
    with _server() as url:
        transport = StdlibTransport()
        with httpx.Client(base_url=url, transport=transport, timeout=5) as http_client:
            assert http_client.get("/one").status_code == 200
            (idle,) = transport._idle.values()
            idle[0].shutdown(socket.SHUT_RDWR)  # as a server's idle timeout would leave it
            assert http_client.get("/two").text == "/two None"


def test_failures_are_the_httpx_errors_the_adapters_retry_or_map() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with httpx.Client(transport=StdlibTransport(), timeout=5) as http_client:
        with pytest.raises(httpx.ConnectError):
            http_client.get(f"http://127.0.0.1:{port}/")
        with pytest.raises(httpx.UnsupportedProtocol):
            http_client.get("https://127.0.0.1:1/")
    with (
        _server() as url,
        httpx.Client(base_url=url, transport=StdlibTransport(), timeout=0.2) as http_client,
        pytest.raises(httpx.ReadTimeout),
    ):
        http_client.get("/slow")


def test_only_plain_http_backends_get_this_transport() -> None:
    assert isinstance(backend_http._default_transport("http://prometheus:9090"), StdlibTransport)
    assert backend_http._default_transport("https://prometheus.example.com") is None
