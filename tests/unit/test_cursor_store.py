"""The cursor store's bounds: owner binding, TTL, LRU eviction by entries and by (estimated) bytes."""

from __future__ import annotations

from plugin_runtime import cursors, interface, paging
from plugin_runtime.odata import ODataParams

ALICE = interface.SecurityCtx("alice", "acme", frozenset({"viewer"}))
OWNER = cursors.owner("p", "fp", "q", "digest", ALICE)


def result(n: int, *, has_more: bool = False) -> interface.QueryResult:
    rows = tuple({"n": i, "label": "x" * 20} for i in range(n))
    return interface.QueryResult(rows, "items", count=n, has_more=has_more)


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_pages_are_read_back_by_position_only_by_their_owner() -> None:
    store = cursors.CursorStore(max_entries=4, max_bytes=1 << 20, ttl_seconds=60)
    cursor = store.put(OWNER, 10, result(25))
    assert cursor is not None and len(cursor) >= 24  # unguessable
    page = store.page(cursor, OWNER, 20, 10)
    assert page is not None and [row["n"] for row in page.rows] == list(range(10, 20))
    assert page.has_more and page.count == 25 and page.entity_set == "items"
    last = store.page(cursor, OWNER, 30, 10)
    assert last is not None and len(last.rows) == 5 and not last.has_more
    assert store.covers(cursor, 34) and not store.covers(cursor, 35) and not store.covers(cursor, 9)
    assert store.page(cursor, OWNER, 35, 10) is None  # past what is stored
    assert store.page(cursor, OWNER, 5, 10) is None  # before it
    for other in (
        cursors.owner("p", "fp", "q", "digest", interface.SecurityCtx("mallory", "acme", frozenset({"viewer"}))),
        cursors.owner("p", "fp", "q", "digest", interface.SecurityCtx("alice", "globex", frozenset({"viewer"}))),
        cursors.owner("p", "fp", "q", "digest", interface.SecurityCtx("alice", "acme", frozenset({"admin"}))),
        cursors.owner("p", "new-fp", "q", "digest", ALICE),
        cursors.owner("p", "fp", "q", "other-digest", ALICE),
    ):
        assert store.page(cursor, other, 20, 10) is None
    assert store.page("forged", OWNER, 20, 10) is None


def test_a_cursor_expires_after_its_ttl() -> None:
    clock = Clock()
    store = cursors.CursorStore(max_entries=4, max_bytes=1 << 20, ttl_seconds=60, clock=clock)
    cursor = store.put(OWNER, 0, result(5))
    assert cursor is not None
    clock.now = 59.9
    assert store.page(cursor, OWNER, 0, 2) is not None
    clock.now = 60.0
    assert store.page(cursor, OWNER, 0, 2) is None
    assert len(store) == 0 and store.bytes == 0
    assert store.stats() == cursors.CursorStats(entries=0, bytes=0, hits=1, misses=1, expired=1, evictions=0)
    assert store.page(cursor, OWNER, 0, 2) is None  # gone now: a miss, no longer an expiry
    assert (store.stats().misses, store.stats().expired) == (2, 1)


def test_the_least_recently_used_cursor_is_evicted_past_the_entry_bound() -> None:
    store = cursors.CursorStore(max_entries=2, max_bytes=1 << 20, ttl_seconds=60)
    first, second = store.put(OWNER, 0, result(3)), store.put(OWNER, 0, result(3))
    assert first is not None and second is not None
    assert store.page(first, OWNER, 0, 1) is not None  # first is now the most recently used
    third = store.put(OWNER, 0, result(3))
    assert third is not None and len(store) == 2 and store.evictions == 1
    assert store.page(second, OWNER, 0, 1) is None
    assert store.page(first, OWNER, 0, 1) is not None and store.page(third, OWNER, 0, 1) is not None


def test_the_byte_bound_evicts_old_cursors_and_trims_a_result_too_large_to_keep_whole() -> None:
    one = cursors.CursorStore(max_entries=100, max_bytes=1 << 30, ttl_seconds=60)
    assert one.put(OWNER, 0, result(100)) is not None
    per_result = one.bytes
    store = cursors.CursorStore(max_entries=100, max_bytes=int(per_result * 2.5), ttl_seconds=60)
    cursors_kept = [store.put(OWNER, 0, result(100)) for _ in range(3)]
    assert store.bytes <= int(per_result * 2.5) and len(store) == 2 and store.evictions == 1
    assert cursors_kept[0] is not None and store.page(cursors_kept[0], OWNER, 0, 1) is None
    big = store.put(OWNER, 0, result(1000))
    assert big is not None and store.bytes <= int(per_result * 2.5)
    tail = store.page(big, OWNER, 0, 10_000)
    assert tail is not None and 0 < len(tail.rows) < 1000
    assert tail.has_more  # the rest is re-run from its position, not lost


def test_a_skiptoken_carries_the_cursor_and_still_binds_the_options() -> None:
    params = ODataParams(orderby=(), top=None)
    token = paging.next_token(params, 10, "abc-DEF_123")
    page = paging.plan(ODataParams(orderby=(), top=None, skiptoken=token), size=10)
    assert (page.position, page.cursor, page.remaining, page.truncated) == (10, "abc-DEF_123", None, True)
    positional = paging.plan(ODataParams(orderby=(), skiptoken=paging.next_token(params, 10)), size=10)
    assert (positional.position, positional.cursor) == (10, None)
    bounded = paging.plan(ODataParams(top=25, skiptoken=paging.next_token(ODataParams(top=25), 10, "c")), size=10)
    assert (bounded.remaining, bounded.params.top, bounded.truncated) == (15, 10, True)
