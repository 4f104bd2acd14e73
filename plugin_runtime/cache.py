"""Tenant-safe result cache of one plugin instance: bounded LRU with TTLs, and request coalescing.

A dashboard refreshed every 10 s by 50 viewers asks the same question 50 times; with a cache the
backend hears it once per TTL. What makes sharing safe is the key (`key`): the query id, every OData
option of the request in a normal form, and the *verified* caller identity the runtime already
has — tenant and roles for scope `tenant`, and also the subject and its claims for scope `caller`.
One tenant therefore never sees another's rows, and an answer narrowed by roles is never served to
a caller without exactly those roles.

Concurrent identical requests are coalesced: the first starts the plugin call as a task of its
own, the others await that task, so a request that goes away does not fail the ones waiting with
it. Only successful answers are stored. The cache belongs to one loaded plugin instance: a new
version, config or rotated secret is a new instance, so it starts empty (that is the invalidation).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import functools
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

from plugin_runtime import interface, odata, processing

__all__ = ["CacheStats", "Freshness", "ResultCache", "key"]

Key = tuple[Any, ...]
#: Claims that change with every token of the same caller: never part of the identity.
_PER_TOKEN_CLAIMS = frozenset({"exp", "iat", "nbf", "jti", "auth_time"})


@functools.lru_cache(maxsize=1024)
def _canonical_filter(text: str) -> str:
    """One spelling per filter (spacing and redundant parentheses do not make another entry)."""
    return processing.filter_text(odata.parse_filter(text))


def _frozen(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(item) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return tuple((f.name, _frozen(getattr(value, f.name))) for f in dataclasses.fields(value))
    return value


def _claims_digest(claims: Mapping[str, Any]) -> str:
    stable = {k: v for k, v in claims.items() if k not in _PER_TOKEN_CLAIMS}
    return hashlib.sha256(json.dumps(stable, sort_keys=True, default=str).encode()).hexdigest()


def key(
    query_id: str, params: odata.ODataParams, ctx: interface.SecurityCtx, *, scope: Literal["tenant", "caller"]
) -> Key:
    """The cache key of one request: query, every option (normalised), and who may see the answer."""
    # Every field, so an option added to ODataParams later is in the key without anyone remembering;
    # the filter enters as its canonical text (the AST says the same, but is not hashable).
    options = tuple(
        (f.name, _frozen(getattr(params, f.name)))
        for f in dataclasses.fields(params)
        if f.name not in ("filter", "filter_ast")
    )
    if params.filter:
        options += (("filter", _canonical_filter(params.filter)),)
    identity: tuple[Any, ...] = (ctx.tenant, tuple(sorted(ctx.roles)))
    if scope == "caller":
        identity += (ctx.subject, _claims_digest(ctx.claims))
    return (query_id, options, identity)


@dataclasses.dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    coalesced: int = 0
    entries: int = 0
    bytes: int = 0

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Freshness:
    """How old an answer is and how long it stays fresh: the `Age` and `Cache-Control` headers."""

    age_seconds: float
    max_age_seconds: float
    outcome: Literal["hit", "miss", "coalesced"]


@dataclasses.dataclass
class _Entry:
    result: interface.QueryResult
    stored_at: float
    ttl: float
    size: int


def _size(result: interface.QueryResult) -> int:
    """Bytes the answer takes as JSON: the measure `max_bytes` bounds (close to its memory, cheap)."""
    return len(json.dumps([dict(row) for row in result.rows], default=str)) + 64


class ResultCache:
    def __init__(self, *, max_entries: int, max_bytes: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.stats = CacheStats()
        self._clock = clock
        self._entries: collections.OrderedDict[Key, _Entry] = collections.OrderedDict()
        self._pending: dict[Key, asyncio.Task[interface.QueryResult]] = {}

    def lookup(self, cache_key: Key) -> tuple[interface.QueryResult, Freshness] | None:
        entry = self._entries.get(cache_key)
        if entry is None:
            return None
        age = self._clock() - entry.stored_at
        if age >= entry.ttl:
            self._remove(cache_key)
            return None
        self._entries.move_to_end(cache_key)
        return entry.result, Freshness(age, entry.ttl - age, outcome="hit")

    def store(self, cache_key: Key, result: interface.QueryResult, ttl: float) -> None:
        size = _size(result)
        if size > self.max_bytes:
            return  # one answer bigger than the whole cache: serving it uncached beats evicting everything
        if cache_key in self._entries:
            self._remove(cache_key)
        self._entries[cache_key] = _Entry(result, self._clock(), ttl, size)
        self.stats.entries += 1
        self.stats.bytes += size
        while self.stats.entries > self.max_entries or self.stats.bytes > self.max_bytes:
            oldest = next(iter(self._entries))
            self._remove(oldest)
            self.stats.evictions += 1

    def _remove(self, cache_key: Key) -> None:
        entry = self._entries.pop(cache_key)
        self.stats.entries -= 1
        self.stats.bytes -= entry.size

    async def fetch(
        self,
        cache_key: Key,
        produce: Callable[[], Awaitable[interface.QueryResult]],
        *,
        ttl: float,
        refresh: bool = False,
    ) -> tuple[interface.QueryResult, Freshness]:
        """A fresh stored answer, else the one being produced for the same key, else `produce()`.

        `refresh` (a caller's `Cache-Control: no-cache`) skips stored answers but still shares a call
        already under way: that one started after the request did not, but it is no older than it.
        """
        if not refresh:
            found = self.lookup(cache_key)
            if found is not None:
                self.stats.hits += 1
                return found
        task = self._pending.get(cache_key)
        outcome: Literal["miss", "coalesced"] = "coalesced" if task is not None else "miss"
        if task is not None:
            self.stats.coalesced += 1
        else:
            self.stats.misses += 1
            task = asyncio.ensure_future(produce())
            self._pending[cache_key] = task
            task.add_done_callback(functools.partial(self._settled, cache_key, ttl))
        result = await asyncio.shield(task)
        return result, Freshness(0.0, ttl, outcome=outcome)

    def _settled(self, cache_key: Key, ttl: float, task: asyncio.Task[interface.QueryResult]) -> None:
        self._pending.pop(cache_key, None)
        if task.cancelled() or task.exception() is not None:  # retrieving the exception: nobody may wait
            return
        self.store(cache_key, task.result(), ttl)
