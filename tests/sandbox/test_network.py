"""The pod's network: only loopback, declared egress relayed out, ingress only through its Unix socket."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Callable

from plugin_devcluster.containers import Endpoint, Termination
from tests.sandbox.conftest import EchoServer, Start, finished

CONNECT = (
    "import json, socket\n"
    "def attempt(host, port):\n"
    "    try:\n"
    "        with socket.create_connection((host, port), timeout=3) as s:\n"
    "            s.sendall(b'hi'); return s.recv(100).decode()\n"
    "    except OSError as e:\n"
    "        return type(e).__name__\n"
)


def host_address(version: int = 4) -> str:
    """A non-loopback address of this machine (a test needs one: it fails loudly without)."""
    command = ["ip", "-o", f"-{version}", "addr", "show", "scope", "global"]
    output = subprocess.run(command, capture_output=True, text=True, check=True)
    addresses = [line.split()[3].split("/")[0] for line in output.stdout.splitlines()]
    assert addresses, f"no global IPv{version} address on this machine"
    return addresses[0]


def test_only_declared_endpoints_are_reachable(start: Start, echo: Callable[..., EchoServer]) -> None:
    declared, undeclared = echo(), echo()
    targets = [("127.0.0.1", declared.port), ("127.0.0.1", undeclared.port), ("127.0.0.1", 5432)]
    container = start(
        CONNECT
        + "def fence():\n"
        + "    try:\n"
        + "        socket.socket(socket.AF_UNIX).connect('/.sandbox/fence/egress-0.sock'); return 'connected'\n"
        + "    except OSError as e:\n"
        + "        return type(e).__name__\n"
        + f"print(json.dumps([attempt(h, p) for h, p in {targets!r}] + [fence()]))",
        egress=(Endpoint("127.0.0.1", declared.port),),
    )
    termination, log = finished(container)
    assert termination is Termination.COMPLETED, log
    answers = json.loads(log.strip().splitlines()[-1])
    assert answers[0] == "echo:hi"
    assert answers[1] == "ConnectionRefusedError"
    assert answers[2] == "ConnectionRefusedError"  # PostgreSQL on the host: not in the namespace
    assert answers[3] == "PermissionError"  # the init's way out is root's alone
    assert undeclared.accepted == 0


def test_non_loopback_endpoint_is_added_inside_and_others_unroutable(
    start: Start, echo: Callable[..., EchoServer]
) -> None:
    address = host_address()
    declared, undeclared = echo(address), echo(address)
    targets = [(address, declared.port), (address, undeclared.port), ("192.0.2.1", 53)]
    container = start(
        CONNECT + f"print(json.dumps([attempt(h, p) for h, p in {targets!r}]))",
        egress=(Endpoint(address, declared.port),),
    )
    termination, log = finished(container)
    assert termination is Termination.COMPLETED, log
    answers = json.loads(log.strip().splitlines()[-1])
    assert answers[0] == "echo:hi"
    assert answers[1] == "ConnectionRefusedError"
    assert answers[2] == "OSError"  # no route out of the namespace at all
    assert undeclared.accepted == 0


def test_ipv6_endpoint_is_added_inside(start: Start, echo: Callable[..., EchoServer]) -> None:
    address = host_address(6)
    server = echo(address)
    container = start(
        CONNECT + f"print(json.dumps(attempt({address!r}, {server.port})))", egress=(Endpoint(address, server.port),)
    )
    termination, log = finished(container)
    assert termination is Termination.COMPLETED, log
    assert json.loads(log.strip().splitlines()[-1]) == "echo:hi"


def test_egress_by_host_name_resolves_inside_through_hosts(start: Start, echo: Callable[..., EchoServer]) -> None:
    name = socket.gethostname()  # resolved by the host; inside only through the pod's /etc/hosts
    server = echo(socket.gethostbyname(name))
    container = start(
        CONNECT + f"print(json.dumps([attempt({name!r}, {server.port}), socket.gethostbyname({name!r})]))",
        egress=(Endpoint(name, server.port),),
    )
    termination, log = finished(container)
    assert termination is Termination.COMPLETED, log
    answer, address = json.loads(log.strip().splitlines()[-1])
    assert answer == "echo:hi"
    assert address.startswith("127.77.")


def test_ingress_socket_reaches_the_workload_port(start: Start) -> None:
    container = start(
        "import http.server\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200); self.end_headers(); self.wfile.write(b'inside:' + self.path.encode())\n"
        "http.server.HTTPServer(('127.0.0.1', 8080), H).serve_forever()",
        port=8080,
    )
    deadline = time.monotonic() + 20
    reply = b""
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(str(container.ingress))
            try:
                client.sendall(b"GET /probe HTTP/1.0\r\n\r\n")
                reply = b"".join(iter(lambda: client.recv(4096), b""))
            except (BrokenPipeError, ConnectionResetError):  # not listening yet: the relay closes at once
                reply = b""
        if reply:
            break
        time.sleep(0.1)
    assert reply.startswith(b"HTTP/1.0 200")
    assert reply.endswith(b"inside:/probe")
    assert container.ingress.stat().st_mode & 0o077 == 0
