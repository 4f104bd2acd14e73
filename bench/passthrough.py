"""The reference pass-through: the least a Python process can do between a client and Prometheus.

`adapter fixed cost` compares the runtime with this floor. It is plain asyncio streams: each client
connection gets its own keep-alive connection to the upstream; a request's head and body are read
and written upstream unchanged, and the response is relayed as it arrives (a `Content-Length`
body, or chunks until the last one). No parsing beyond the framing, no JSON, no routing, no
auth: whatever the runtime costs above this is the runtime's own work (OData, translation, rows,
encoding, its HTTP framework and client).

Run alone: `python -m bench.passthrough --upstream http://127.0.0.1:9090 --port 8099`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from bench.runtime_process import free_port
from devservices import processes

_HEAD_END = b"\r\n\r\n"


def _length(head: bytes) -> int | None:
    """The head's Content-Length (None: chunked, or no body)."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return None


def _chunked(head: bytes) -> bool:
    return b"transfer-encoding: chunked" in head.lower()


async def _relay_message(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One HTTP/1.1 message from `reader` to `writer`, framing kept as it was."""
    head = await reader.readuntil(_HEAD_END)
    writer.write(head)
    length = _length(head)
    if length:
        writer.write(await reader.readexactly(length))
    elif _chunked(head):
        while True:
            size_line = await reader.readline()
            size = int(size_line.split(b";")[0], 16)
            writer.write(size_line + await reader.readexactly(size + 2))
            if size == 0:
                break
    await writer.drain()


async def _serve_client(upstream: tuple[str, int], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    up_reader, up_writer = await asyncio.open_connection(*upstream)
    try:
        while True:
            await _relay_message(reader, up_writer)  # the request
            await _relay_message(up_reader, writer)  # its response
    except (asyncio.IncompleteReadError, ConnectionError):
        pass  # a side closed its connection
    finally:
        up_writer.close()
        writer.close()


async def serve(upstream_url: str, port: int) -> None:
    parts = urlsplit(upstream_url)
    upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
    server = await asyncio.start_server(lambda r, w: _serve_client(upstream, r, w), "127.0.0.1", port)
    async with server:
        await server.serve_forever()


@contextlib.contextmanager
def running_passthrough(upstream_url: str) -> Iterator[tuple[str, int]]:
    """The pass-through as its own process (its own core, as the runtime has); yields its URL and pid."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-passthrough-") as directory:
        log = Path(directory) / "passthrough.log"
        with open(log, "wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "bench.passthrough", "--upstream", upstream_url, "--port", str(port)],
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            processes.wait_ready(process, f"{url}/-/ready", log, name="passthrough", timeout=30)
            yield url, process.pid
        finally:
            processes.stop(process, timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.upstream, args.port))


if __name__ == "__main__":
    main()
