"""One page of a result: read from a stored cursor, or from the plugin (`paging` plans, `cursors` keeps).

    token names a live cursor of this caller ─▶ the page from memory (no plugin call)
    otherwise, plugin answers whole results  ─▶ ask it once for the rest of the result,
                                                answer this page, keep the rest under a new cursor
    otherwise                                ─▶ ask the plugin for exactly this page (native paging)

Plugins that page natively (SQL `LIMIT/OFFSET`, Elasticsearch `from/size`, an upstream's own
paging) are asked one page at a time as before: asking them for everything would make the first
page as dear as the whole result. A plugin opts in with `answers_whole_results = True` when every
call computes the whole result anyway (Prometheus).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from plugin_runtime import cursors, execution, interface, paging
from plugin_runtime.slot import QueryTarget

if TYPE_CHECKING:
    from plugin_runtime.host import PluginHost
    from plugin_runtime.instance import Instance

__all__ = ["WINDOW_ROWS", "Read", "read"]

#: At most this many rows are fetched for one cursor (the store's byte bound may keep fewer).
WINDOW_ROWS = 1_000_000


@dataclasses.dataclass(frozen=True)
class Read:
    answer: execution.Answer
    #: The cursor that holds the rows after this page (None: the next page is computed afresh).
    cursor: str | None = None


def _owner(instance: Instance, target: QueryTarget, page: paging.Page, ctx: interface.SecurityCtx) -> cursors.Owner:
    loaded = instance.loaded
    return cursors.owner(loaded.plugin_id, loaded.fingerprint, target.query.id, page.digest, ctx)


async def read(
    host: PluginHost, target: QueryTarget, ctx: interface.SecurityCtx, page: paging.Page, *, refresh: bool
) -> Read:
    """This page's rows, and where the following ones are kept."""
    store = host.cursors
    length = page.params.top or 0
    if page.cursor is not None and not refresh and target.slot.spec.execute:  # else host.answer refuses
        instance = target.slot.serving()  # a disabled or unloaded plugin answers nothing, stored or not
        stored = store.page(page.cursor, _owner(instance, target, page, ctx), page.position, length)
        if stored is not None:
            following = page.cursor if store.covers(page.cursor, page.position + length) else None
            instance.sandbox.record_served()  # answered without a plugin call: still a query it served
            return Read(execution.Answer(stored), following)
    if not (page.truncated and target.answers_whole_results):
        return Read(await host.answer(target, ctx, page.params, refresh=refresh))
    window = dataclasses.replace(page.params, top=min(page.remaining or WINDOW_ROWS, WINDOW_ROWS))
    answer = await host.answer(target, ctx, window, refresh=refresh)
    result = answer.result
    rows = result.rows
    first = dataclasses.replace(result, rows=rows[:length], has_more=len(rows) > length or result.has_more)
    cursor = None
    if len(rows) > length:
        rest = dataclasses.replace(result, rows=rows[length:])
        cursor = store.put(_owner(target.slot.serving(), target, page, ctx), page.position + length, rest)
    return Read(dataclasses.replace(answer, result=first), cursor)
