"""The local driver's stable per-plugin addresses: what a Kubernetes Service is to the pods behind it.

Each local runtime instance listens on a port of its own, which changes with every version, re-enable
and restart. An executor needs one address per plugin that survives all of these, so each plugin gets
a loopback port of its own (allocated once, kept in `stable-ports.json` in the state directory, so an
operator restart serves it on the same port), forwarding TCP connections to the promoted instance.
Switching instances only changes where new connections go; connections in flight finish where they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from pathlib import Path

log = logging.getLogger(__name__)

_FILE = "stable-ports.json"
_CHUNK = 64 * 1024


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


class StableAddresses:
    """Plugin key → a loopback listener on a fixed port, forwarding to the promoted instance's port."""

    def __init__(self, state_dir: Path) -> None:
        self._path = state_dir / _FILE
        self._servers: dict[str, asyncio.Server] = {}
        self._targets: dict[str, tuple[str, int]] = {}  # key → (instance id, port)

    def _load(self) -> dict[str, dict[str, object]]:
        try:
            return dict(json.loads(self._path.read_text()))
        except (FileNotFoundError, ValueError):
            return {}

    def _save(self, entries: dict[str, dict[str, object]]) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._path.write_text(json.dumps(entries, sort_keys=True))

    def port(self, key: str) -> int:
        entries = self._load()
        entry = entries.setdefault(key, {})
        if "port" not in entry:
            entry["port"] = _free_port()
            self._save(entries)
        port = entry["port"]
        if not isinstance(port, int):
            raise ValueError(f"{self._path}: the port of {key} is not a number")
        return port

    def url(self, key: str) -> str:
        return f"http://127.0.0.1:{self.port(key)}"

    def promoted(self, key: str) -> str | None:
        """The instance the address routes to (persisted, so a restarted operator routes it again)."""
        value = self._load().get(key, {}).get("instance")
        return str(value) if value is not None else None

    async def route(self, key: str, instance_id: str, port: int) -> str:
        """Send new connections of the plugin's address to `port`; listen first if not yet listening."""
        if self._targets.get(key) == (instance_id, port) and key in self._servers:
            return self.url(key)
        entries = self._load()
        entry = entries.setdefault(key, {})
        entry.setdefault("port", _free_port())
        entry["instance"] = instance_id
        self._save(entries)
        self._targets[key] = (instance_id, port)
        if key not in self._servers:
            stable = int(entry["port"])  # type: ignore[call-overload]
            try:
                self._servers[key] = await asyncio.start_server(
                    lambda r, w: self._forward(key, r, w), "127.0.0.1", stable, reuse_address=True
                )
            except OSError as exc:  # e.g. still held by a stopping operator: the next reconcile retries
                log.warning(
                    "stable address not listening", extra={"plugin_key": key, "port": stable, "reason": str(exc)}
                )
                return self.url(key)
            log.info("stable address listening", extra={"plugin_key": key, "port": stable})
        return self.url(key)

    async def close(self) -> None:
        """Stop listening everywhere (the ports stay reserved for this state directory)."""
        servers, self._servers = list(self._servers.values()), {}
        self._targets.clear()
        for server in servers:
            server.close()
        for server in servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)

    async def _forward(self, key: str, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        target = self._targets.get(key)
        if target is None:
            client.close()
            return
        try:
            upstream_reader, upstream = await asyncio.open_connection("127.0.0.1", target[1])
        except OSError:
            client.close()  # the instance is down: the caller sees a closed connection, as with a Service
            return
        await asyncio.gather(_pipe(client_reader, upstream), _pipe(upstream_reader, client))

    async def forget(self, key: str) -> None:
        """The plugin is gone: stop listening and release its port."""
        server = self._servers.pop(key, None)
        self._targets.pop(key, None)
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)
        entries = self._load()
        if entries.pop(key, None) is not None:
            self._save(entries)
