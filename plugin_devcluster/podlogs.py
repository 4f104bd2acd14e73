"""`GET …/pods/<name>/log`: what `kubectl logs [-f] [--previous] [--tail N] [--limit-bytes N]` reads.

A real API server forwards the request to the pod's kubelet, which reads the container's log files;
here the API server asks the embedded kubelet (`LogSource`) where the pod's files are and whether its
container runs, and reads them as `containerlogs` lays them out (rotated, the previous container's
kept). `follow` streams what is appended, across rotations, until the container stops or the client
goes. The log lines carry no timestamps, so `timestamps`, `sinceSeconds` and `sinceTime` are refused
(400) rather than ignored.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any, Protocol

import aiohttp.web

from plugin_devcluster import containerlogs, statuses

__all__ = ["FOLLOW_INTERVAL", "LogSource", "serve"]

#: How often a followed log is checked for more.
FOLLOW_INTERVAL = 0.2
_UNSUPPORTED = ("timestamps", "sinceSeconds", "sinceTime")


class LogSource(Protocol):
    """The node's side (`kubelet.Kubelet`)."""

    def directory(self, namespace: str, pod: str) -> Path | None:
        """The pod's host directory, where its container's log files are."""

    def running(self, namespace: str, pod: str) -> bool:
        """Whether the pod's container runs now (a followed log ends when it stops)."""


def _flag(params: Mapping[str, str], name: str) -> bool:
    return params.get(name, "false").lower() in ("true", "1")


def _count(params: Mapping[str, str], name: str) -> int | None:
    if name not in params:
        return None
    try:
        value = int(params[name])
    except ValueError:
        raise statuses.bad_request(f"{name}: {params[name]!r} is not an integer") from None
    if value < 0 or (name == "limitBytes" and value == 0):
        raise statuses.bad_request(f"{name}: must be {'positive' if name == 'limitBytes' else 'non-negative'}")
    return value


async def serve(
    raw: aiohttp.web.BaseRequest, pod: Mapping[str, Any], node: LogSource | None
) -> aiohttp.web.StreamResponse:
    meta, params = pod["metadata"], raw.query
    name, namespace = meta["name"], meta["namespace"]
    containers = [c["name"] for c in pod["spec"].get("containers") or []]
    container = params.get("container") or (containers[0] if len(containers) == 1 else "")
    if container not in containers:
        raise statuses.bad_request(
            f"a container name must be specified for pod {name}, choose one of: {containers}"
            if not container
            else f"container {container} is not valid for pod {name}"
        )
    for option in _UNSUPPORTED:
        if params.get(option) not in (None, "", "false", "0"):
            raise statuses.bad_request(
                f"{option}: not supported by the dev cluster (its container logs carry no times)"
            )
    previous, follow = _flag(params, "previous"), _flag(params, "follow")
    tail_lines, limit_bytes = _count(params, "tailLines"), _count(params, "limitBytes")
    directory = node.directory(namespace, name) if node is not None else None
    if directory is None or not containerlogs.files(directory, previous=previous):
        if previous:
            raise statuses.bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
        waiting = _waiting_reason(pod) if node is not None else "the dev cluster runs no kubelet"
        raise statuses.bad_request(f'container "{container}" in pod "{name}" is waiting to start: {waiting}')
    response = aiohttp.web.StreamResponse(status=200, headers={"Content-Type": "text/plain"})
    if not follow or previous:
        data = containerlogs.read(directory, previous=previous, tail_lines=tail_lines, limit_bytes=limit_bytes)
        response.content_length = len(data)
        await response.prepare(raw)
        await response.write(data)
        await response.write_eof()
        return response
    assert node is not None
    await response.prepare(raw)
    await _follow(response, directory, tail_lines, limit_bytes, lambda: node.running(namespace, name))
    await response.write_eof()
    return response


def _waiting_reason(pod: Mapping[str, Any]) -> str:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (status.get("state") or {}).get("waiting")
        if waiting:
            return str(waiting.get("reason") or "ContainerCreating")
    return "ContainerCreating"


async def _follow(
    response: aiohttp.web.StreamResponse,
    directory: Path,
    tail_lines: int | None,
    limit_bytes: int | None,
    running: Callable[[], bool],
) -> None:
    """What the log holds (its tail), then what is appended until the container stops."""
    budget = limit_bytes if limit_bytes is not None else -1
    current = directory / containerlogs.CURRENT
    handle: IO[bytes] | None = _open(current)
    older = b"".join(p.read_bytes() for p in containerlogs.files(directory)[:-1]) if handle is not None else b""
    data = older + (handle.read() if handle is not None else b"")
    if tail_lines is not None:
        data = containerlogs.tail(data, tail_lines)
    try:
        while True:
            if data:
                if budget >= 0:
                    data, budget = data[:budget], budget - min(budget, len(data))
                await response.write(data)
                if budget == 0:
                    return
            data = handle.read() if handle is not None else b""
            if data:
                continue
            if handle is not None and _rotated(handle, current):
                data = handle.read()  # its last bytes (a rotated file is not written again), then the new one
                handle.close()
                handle = _open(current)
                continue
            if handle is None and (handle := _open(current)) is not None:
                continue
            if not running():
                return
            await asyncio.sleep(FOLLOW_INTERVAL)
    finally:
        if handle is not None:
            handle.close()


def _open(path: Path) -> IO[bytes] | None:
    try:
        return open(path, "rb")  # closed by the caller, across rotations
    except FileNotFoundError:
        return None


def _rotated(handle: IO[bytes], path: Path) -> bool:
    """The file `handle` reads is no longer the one at `path` (renamed away by a rotation or a restart)."""
    try:
        return os.stat(path).st_ino != os.fstat(handle.fileno()).st_ino
    except FileNotFoundError:
        return True
