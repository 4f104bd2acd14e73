"""A container's log on the node: bounded by rotation, as the kubelet's containerLogMaxSize/MaxFiles bound it.

The container runtime writes the container's stdout and stderr through `RotatingLog` into
`<pod dir>/container.log`; once a write would take the file past `LogLimits.max_bytes`, the file
becomes `container.log.1` (the older ones move up, the oldest beyond `max_files` is deleted) and a
new one starts, so a chatty pod holds at most `max_files × max_bytes` on disk. A cut can fall inside
a line: read in order (`files`), the parts are the stream again. When a container starts again in
the same pod (a restart), its predecessor's files are kept as `previous.log*` (`retire`): what
`kubectl logs --previous` shows. `read` answers `kubectl logs` (`tailLines`, `limitBytes`).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

__all__ = ["CURRENT", "PREVIOUS", "LogLimits", "RotatingLog", "files", "read", "retire"]

CURRENT = "container.log"
PREVIOUS = "previous.log"


@dataclasses.dataclass(frozen=True)
class LogLimits:
    """The kubelet's defaults are 10 MiB and 5 files; here one old file is kept (`make run` has many pods)."""

    max_bytes: int = 10 * 1024 * 1024
    #: The current file included (as containerLogMaxFiles): 2 keeps one rotated file.
    max_files: int = 2

    def __post_init__(self) -> None:
        if self.max_bytes < 1 or self.max_files < 1:
            raise ValueError(f"container log limits must be positive, not {self.max_bytes} bytes × {self.max_files}")


def files(directory: Path, *, previous: bool = False) -> list[Path]:
    """The log's files that exist, oldest first (`container.log.N` … `container.log.1`, `container.log`)."""
    base = directory / (PREVIOUS if previous else CURRENT)
    rotated = sorted(
        (p for p in directory.glob(base.name + ".*") if p.suffix[1:].isdigit()),
        key=lambda p: int(p.suffix[1:]),
        reverse=True,
    )
    return [*rotated, *([base] if base.exists() else [])]


def retire(directory: Path) -> None:
    """A new container starts in `directory`: the last one's log becomes the previous log (replacing
    the one before it), and the new one starts empty."""
    for old in files(directory, previous=True):
        old.unlink()
    for path in files(directory):
        os.replace(path, directory / (PREVIOUS + path.name.removeprefix(CURRENT)))


class RotatingLog:
    """Appends bytes to `directory/container.log`, never letting one file grow past `limits.max_bytes`."""

    def __init__(self, directory: Path, limits: LogLimits) -> None:
        self.path, self.limits = directory / CURRENT, limits
        self._file = open(self.path, "ab", buffering=0)  # unbuffered: `kubectl logs` sees every write  # noqa: SIM115
        self._size = self._file.tell()

    def write(self, data: bytes) -> None:
        while data:
            room = self.limits.max_bytes - self._size
            if room <= 0:
                self._rotate()
                continue
            written = self._file.write(data[:room]) or 0
            self._size += written
            data = data[written:]

    def close(self) -> None:
        self._file.close()

    def _rotate(self) -> None:
        self._file.close()
        keep = self.limits.max_files - 1
        rotated = self.path.with_name(f"{CURRENT}.{keep}")
        if keep == 0:
            self.path.unlink()
        else:
            rotated.unlink(missing_ok=True)
            for n in range(keep - 1, 0, -1):
                older = self.path.with_name(f"{CURRENT}.{n}")
                if older.exists():
                    os.replace(older, self.path.with_name(f"{CURRENT}.{n + 1}"))
            os.replace(self.path, self.path.with_name(f"{CURRENT}.1"))
        self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115
        self._size = 0


def read(
    directory: Path, *, previous: bool = False, tail_lines: int | None = None, limit_bytes: int | None = None
) -> bytes:
    """The log as `kubectl logs` shows it: all of it, or its last `tail_lines` lines, cut at `limit_bytes`."""
    parts = files(directory, previous=previous)
    if tail_lines is None:
        data = b"".join(p.read_bytes() for p in parts)
    else:
        data = b""
        for part in reversed(parts):  # newest first, until enough lines are in hand
            data = part.read_bytes() + data
            if data.count(b"\n") > tail_lines:
                break
        data = tail(data, tail_lines)
    return data if limit_bytes is None else data[:limit_bytes]


def tail(data: bytes, lines: int) -> bytes:
    """The last `lines` lines of `data` (a last line without a newline counts)."""
    if lines <= 0:
        return b""
    kept = data.splitlines(keepends=True)[-lines:]
    return b"".join(kept)


def pump(source: int, log: RotatingLog) -> None:
    """Copy what the container writes to the pipe `source` into `log` until every writer closed it
    (the container's whole process tree ended); then close both. Run in a thread of its own."""
    try:
        while chunk := os.read(source, 65536):
            log.write(chunk)
    finally:
        os.close(source)
        log.close()
