"""Cursor paging: the rest of a result kept server-side, so following `@odata.nextLink` re-runs nothing.

A plugin that computes the whole result for every call and slices it afterwards (Prometheus: the
backend answers a range query whole) would otherwise fetch and convert the whole result again for
every page. Such a plugin says so (`answers_whole_results = True`); the runtime then asks it once
for everything from the first page's start, answers the first page, and keeps the rest here under
an unguessable cursor that the next link's `$skiptoken` carries (`paging`).

What the store guarantees:

- A cursor is bound to its owner: the plugin instance, the query and every other option of the
  request (the token's digest), and the verified caller (tenant, subject, roles). A cursor presented
  by anyone else is simply not found, so another caller never sees the stored rows.
- It is bounded: entries expire after `ttl_seconds`, and past `max_entries` or `max_bytes` (an
  estimate from the rows' JSON size) the least recently used entry is evicted. A result larger than
  `max_bytes` is kept only as far as it fits.
- A cursor that is unknown, expired, evicted or exhausted is not an error: the position in the token
  still says where the page starts, so the runtime re-runs the query from there (what positional
  paging always did). Clients never have to restart; they only lose the saving.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import secrets
import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

from plugin_runtime import interface, json_rows

__all__ = ["MAX_BYTES", "MAX_ENTRIES", "TTL_SECONDS", "CursorStats", "CursorStore", "Owner", "owner"]

#: A runtime's store: a client reading page after page comes back within seconds; 5 minutes covers a
#: slow one. 256 MiB (estimated) holds a few results of a million samples; past it, LRU eviction.
TTL_SECONDS = 300.0
MAX_ENTRIES = 256
MAX_BYTES = 256 * 1024 * 1024

#: Who may read a cursor back: (plugin id and fingerprint, query id, options digest, tenant, subject, roles).
Owner = tuple[Hashable, ...]
_SAMPLE_ROWS = 16


def owner(plugin_id: str, fingerprint: str, query_id: str, digest: str, ctx: interface.SecurityCtx) -> Owner:
    """The identity a cursor is bound to; a reloaded plugin (new version, config or secret: another
    fingerprint) is another owner, so it never serves rows its predecessor read."""
    return (plugin_id, fingerprint, query_id, digest, ctx.tenant, ctx.subject, tuple(sorted(ctx.roles)))


def _estimated_bytes(rows: Sequence[Mapping[str, Any]]) -> int:
    """Rows × the mean JSON size of a sample (×2 for Python's object overhead); cheap, not exact."""
    if not rows:
        return 0
    step = max(len(rows) // _SAMPLE_ROWS, 1)
    sample = rows[::step][:_SAMPLE_ROWS]
    size = sum(len(json.dumps(row, default=str)) for row in sample) / len(sample)
    return int(size * 2 * len(rows))


@dataclasses.dataclass(frozen=True)
class CursorStats:
    """What the store holds now and what happened to it so far (exported on `/metrics`).

    `misses` counts pages asked of a cursor that could not serve them (unknown, another caller's,
    evicted, or past its rows); `expired` counts those whose cursor had outlived its TTL (a miss too,
    counted apart because a high share says the TTL is too short for the clients)."""

    entries: int
    bytes: int
    hits: int
    misses: int
    expired: int
    evictions: int


@dataclasses.dataclass(frozen=True)
class _Entry:
    owner: Owner
    start: int  # position within the result of rows[0]
    rows: tuple[Mapping[str, Any], ...] | json_rows.JsonRows
    has_more: bool  # rows exist past the stored ones (the store or the plugin cut the result)
    count: int | None
    entity_set: str
    expires: float
    size: int


class CursorStore:
    """Stored result tails by cursor: bounded in entries and (estimated) bytes, LRU, with a TTL."""

    def __init__(
        self, *, max_entries: int, max_bytes: int, ttl_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max_entries, self._max_bytes, self._ttl, self._clock = max_entries, max_bytes, ttl_seconds, clock
        self._entries: collections.OrderedDict[str, _Entry] = collections.OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = self.expired = self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        return self._bytes

    def put(self, owner: Owner, start: int, result: interface.QueryResult) -> str | None:
        """Keep `result`'s rows (the first at `start`); the cursor, or None when nothing fits."""
        rows, has_more = result.rows, result.has_more
        size = _estimated_bytes(rows)
        if size > self._max_bytes:  # keep the head that fits; the position re-runs the rest
            kept = max(int(len(rows) * self._max_bytes / size), 0)
            rows, has_more, size = rows[:kept], True, _estimated_bytes(rows[:kept])
        if not rows:
            return None
        cursor = secrets.token_urlsafe(18)
        entry = _Entry(owner, start, rows, has_more, result.count, result.entity_set, self._clock() + self._ttl, size)
        with self._lock:
            self._entries[cursor] = entry
            self._bytes += size
            while len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
                self._drop(next(iter(self._entries)))
                self.evictions += 1
        return cursor

    def page(self, cursor: str, owner: Owner, position: int, length: int) -> interface.QueryResult | None:
        """Rows `position … position+length` of the stored result, or None (unknown, foreign, expired,
        or not stored: the caller re-runs the query from `position`)."""
        with self._lock:
            entry = self._entries.get(cursor)
            if entry is not None and entry.expires <= self._clock():
                self._drop(cursor)
                self.expired += 1
                self.misses += 1
                return None
            offset = position - entry.start if entry is not None else -1
            if entry is None or entry.owner != owner or offset < 0 or offset >= len(entry.rows):
                self.misses += 1
                return None
            self._entries.move_to_end(cursor)
            self.hits += 1
        end = offset + length
        return interface.QueryResult(
            rows=entry.rows[offset:end],
            entity_set=entry.entity_set,
            count=entry.count,
            has_more=end < len(entry.rows) or entry.has_more,
        )

    def covers(self, cursor: str, position: int) -> bool:
        """Whether a page starting at `position` can still be served from `cursor` (for the next link)."""
        entry = self._entries.get(cursor)
        return entry is not None and 0 <= position - entry.start < len(entry.rows)

    def _drop(self, cursor: str) -> None:
        entry = self._entries.pop(cursor)
        self._bytes -= entry.size

    def stats(self) -> CursorStats:
        with self._lock:
            return CursorStats(len(self._entries), self._bytes, self.hits, self.misses, self.expired, self.evictions)
