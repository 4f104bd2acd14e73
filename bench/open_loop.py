"""An open-loop HTTP load generator that stays out of its own measurement.

Request i is sent at `start + i / rate` whatever happened to the earlier ones, and its latency runs
from that *scheduled* time to its last byte: a stall anywhere counts for every request it delayed
(no coordinated omission). The generator has to keep to its schedule for that to measure the
server, so it is made cheap: every send is a timer callback of the event loop (no task, no
coroutine per request), requests are one pre-encoded `GET` written to one of a fixed set of
keep-alive connections (plain `asyncio.Protocol`s reading only the status and `Content-Length`),
opened as needed up to a limit (the server closes idle ones after its keep-alive timeout), and the
garbage collector is off while it runs (its full passes over the client's heap stalled an
earlier aiohttp-based generator for up to 340 ms on this machine).

What the generator cannot control is the machine: on 2 shared cores, a busy neighbour can keep
this process or the server off the CPU for tens of milliseconds. So each measurement also returns
how late the generator itself fired (`send_lag_ms`: the loop's lateness against the schedule, not
waiting for a connection, which is the server's doing) and how busy all cores were meanwhile.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import gc
import os
import urllib.parse
from collections.abc import Callable, Sequence

__all__ = ["Measurement", "cpu_busy", "measure", "percentile"]

_TIMEOUT_SECONDS = 30.0


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _cpu_times() -> tuple[int, int]:
    """(all jiffies, idle + iowait jiffies) of every core since boot."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    return sum(fields), fields[3] + fields[4]


def cpu_busy(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The share of all cores' time that was not idle between two `_cpu_times()` readings."""
    total, idle = after[0] - before[0], after[1] - before[1]
    return 1.0 - idle / total if total > 0 else 0.0


@dataclasses.dataclass(frozen=True)
class Measurement:
    """The counted requests (after the warm-up): latencies from the scheduled time, in ms."""

    latencies_ms: list[float]
    send_lag_ms: list[float]
    failures: int
    #: Share of all cores busy during the run (this process, the server and everything else).
    machine_busy: float
    load_average: float


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection carrying one request at a time."""

    def __init__(self, answered: Callable[[_Connection, bool], None], lost: Callable[[_Connection], None]) -> None:
        self._answered, self._lost = answered, lost
        self._buffer = bytearray()
        self._length: int | None = None  # the whole response's size, once its head is in
        self._ok = False
        self.transport: asyncio.Transport | None = None
        self.scheduled = 0.0
        self.path: str | None = None  # the counted path this request measures (None: warm-up)
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send(self, request: bytes, scheduled: float, path: str | None) -> None:
        assert self.transport is not None
        self.scheduled, self.path, self.busy = scheduled, path, True
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._length is None:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = self._buffer[:end].decode("latin-1").split("\r\n")
            self._ok = lines[0].split(" ", 2)[1] == "200"
            sizes = [int(line.partition(":")[2]) for line in lines[1:] if line.lower().startswith("content-length:")]
            if not sizes:  # the runtime answers with a length; anything else is a failed request
                self._finish(ok=False)
                return
            self._length = end + 4 + sizes[0]
        if len(self._buffer) >= self._length:
            self._finish(ok=self._ok)

    def _finish(self, *, ok: bool) -> None:
        self._buffer.clear()
        self._length = None
        self.busy = False
        if not ok and self.transport is not None:
            self.transport.close()
        self._answered(self, ok)

    def connection_lost(self, exc: Exception | None) -> None:
        transport, self.transport = self.transport, None
        if transport is not None and self.busy:
            self._finish(ok=False)
        self._lost(self)


async def measure(
    url: str, paths: Sequence[str], *, rate: float, duration: float, warmup: float, connections: int, block: float = 1.0
) -> dict[str, Measurement]:
    """GETs on schedule at `rate`, the paths taking turns in blocks of `block` seconds, so each path
    is measured for `duration` seconds under the same conditions as the others; the first `warmup`
    seconds are not counted."""
    loop = asyncio.get_running_loop()
    address = urllib.parse.urlsplit(url)
    host, port = address.hostname or "127.0.0.1", address.port or 80
    requests = {path: f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode("ascii") for path in paths}
    total, first_counted = int((warmup + duration * len(paths)) * rate), int(warmup * rate)
    latencies: dict[str, list[float]] = {path: [] for path in paths}
    lags: dict[str, list[float]] = {path: [] for path in paths}
    failures = dict.fromkeys(paths, 0)
    answered = 0
    idle: list[_Connection] = []
    opened = 0
    waiting: collections.deque[tuple[bytes, float, str | None]] = collections.deque()  # no connection was free
    finished: asyncio.Future[None] = loop.create_future()

    def on_answer(connection: _Connection, ok: bool) -> None:
        nonlocal answered
        if connection.path is not None:
            latencies[connection.path].append((loop.time() - connection.scheduled) * 1000)
            failures[connection.path] += not ok
        answered += 1
        if connection.transport is not None:
            ready(connection)
        if answered == total and not finished.done():
            finished.set_result(None)

    def ready(connection: _Connection) -> None:
        if waiting:
            connection.send(*waiting.popleft())
        else:
            idle.append(connection)

    def on_lost(connection: _Connection) -> None:
        nonlocal opened
        opened -= 1
        if connection in idle:
            idle.remove(connection)

    async def connect() -> None:
        try:
            _, connection = await loop.create_connection(lambda: _Connection(on_answer, on_lost), host, port)
        except OSError as exc:
            if not finished.done():
                finished.set_exception(exc)
            return
        ready(connection)

    def fire(index: int, scheduled: float) -> None:
        nonlocal opened
        path = paths[int(index / rate / block) % len(paths)]
        counted = path if index >= first_counted else None
        if counted is not None:
            lags[counted].append((loop.time() - scheduled) * 1000)
        if idle:
            idle.pop().send(requests[path], scheduled, counted)
            return
        waiting.append((requests[path], scheduled, counted))
        if opened < connections:
            opened += 1
            connecting.add(task := loop.create_task(connect()))
            task.add_done_callback(connecting.discard)

    connecting: set[asyncio.Task[None]] = set()
    gc.collect()
    gc.freeze()  # what exists now is never walked again; and nothing is collected while measuring
    collecting = gc.isenabled()
    gc.disable()
    before = _cpu_times()
    try:
        start = loop.time() + 0.05
        for index in range(total):
            scheduled = start + index / rate
            loop.call_at(scheduled, fire, index, scheduled)
        await asyncio.wait_for(finished, total / rate + _TIMEOUT_SECONDS)
    finally:
        busy = cpu_busy(before, _cpu_times())
        if collecting:
            gc.enable()
        gc.unfreeze()
        for connection in list(idle):
            if connection.transport is not None:
                connection.transport.close()
    load = os.getloadavg()[0]
    return {path: Measurement(latencies[path], lags[path], failures[path], busy, load) for path in paths}
