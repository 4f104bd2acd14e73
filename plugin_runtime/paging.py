"""Server-driven paging: what rows one response carries, and the opaque `$skiptoken` of the next. Pure.

In OData `$top` and `$skip` define the *result*: rows `skip … skip+top` of the filtered, ordered
set. The server may answer a result in pages of its own size; only then does a response carry an
`@odata.nextLink`, whose `$skiptoken` says how far into the result the next page starts. So:

    $top=5, 24 rows match, page size 1000   → 5 rows, no next link (the result is complete)
    no $top, 2500 rows match, page size 1000 → 1000 rows + next link, 1000 + link, 500
    $top=1500, page size 1000                → 1000 rows + next link, then the last 500

The runtime asks the adapter for exactly one page (`page_params`: `$skip` moved to the page's
start, `$top` the page's length), so every adapter pages alike; an adapter reports whether rows
exist past the rows it returned (`QueryResult.has_more`). The token carries the position within
the result and a digest of the request's other options: a token replayed with a different
`$filter`, `$orderby`, `$top`, … is refused (400) instead of silently returning the wrong rows.

A token may also name a cursor (`cursors`): the rest of the result kept server-side, so the next
page is read from memory instead of re-running the query. The position stays authoritative: a
cursor that is gone (expired, evicted, another caller's) only means the page is computed afresh.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
from collections.abc import Mapping
from typing import Any

from plugin_runtime import errors, odata

__all__ = ["DEFAULT_PAGE_SIZE", "WHOLE_RESULT_PAGE_SIZE", "Page", "next_token", "page_size", "plan"]

#: Rows per response when neither the query nor the plugin says otherwise.
DEFAULT_PAGE_SIZE = 1000
#: The same for a plugin that answers whole results (`reading`): its result is fetched once and its
#: pages after the first are slices of the cursor store's text, so a small page saves no backend
#: work and only adds HTTP round trips for the client (100k samples: 100 round trips at 1000, where
#: one direct query is one). The page size still bounds a response: 10,000 rows, the most `$top` takes.
WHOLE_RESULT_PAGE_SIZE = odata.MAX_TOP
_TOKEN_PREFIX = "p1."


def page_size(
    query_options: Mapping[str, Any], plugin_settings: Mapping[str, Any], *, whole_results: bool = False
) -> int:
    """The server page size of one query: its `options.page_size`, else the plugin's
    `settings.page_size`, else `WHOLE_RESULT_PAGE_SIZE` for a plugin that answers whole results
    and `DEFAULT_PAGE_SIZE` for any other; capped at `odata.MAX_TOP`."""
    for value in (query_options.get("page_size"), plugin_settings.get("page_size")):
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return min(value, odata.MAX_TOP)
    return WHOLE_RESULT_PAGE_SIZE if whole_results else DEFAULT_PAGE_SIZE


def _digest(params: odata.ODataParams) -> str:
    """What must not change between pages of one result (everything but the position)."""
    options = params.to_query()
    text = "\n".join(f"{key}={options[key]}" for key in sorted(options))
    return hashlib.blake2b(text.encode("utf-8"), digest_size=6).hexdigest()


def next_token(params: odata.ODataParams, position: int, cursor: str | None = None) -> str:
    """The `$skiptoken` of the page starting `position` rows into the result of `params` (and the
    cursor holding it, if any: `secrets.token_urlsafe` text, which has no dots)."""
    raw = f"{position}.{_digest(params)}{'' if cursor is None else '.' + cursor}".encode()
    return _TOKEN_PREFIX + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _position(params: odata.ODataParams) -> tuple[int, str | None]:
    token = params.skiptoken
    if token is None:
        return 0, None
    invalid = errors.InvalidQuery(
        "$skiptoken is not one this service issued: follow @odata.nextLink as it is", option="$skiptoken"
    )
    if not token.startswith(_TOKEN_PREFIX):
        raise invalid
    encoded = token[len(_TOKEN_PREFIX) :]
    try:
        text = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("ascii")
        position_text, digest, *cursor = text.split(".", 2)
        position = int(position_text)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid from None
    if position < 0 or position + params.skip > odata.MAX_SKIP or digest != _digest(params):
        raise errors.InvalidQuery(
            "$skiptoken belongs to a request with other query options: follow @odata.nextLink as it is",
            option="$skiptoken",
        )
    return position, cursor[0] if cursor else None


@dataclasses.dataclass(frozen=True)
class Page:
    """One response of a result: `params` go to the adapter; `position` is where the page starts
    within the result; `truncated` says the page size (not `$top`) ends this page; `cursor` is the
    stored result the request's token names (`cursors`); `digest` binds a new cursor to the options."""

    params: odata.ODataParams
    position: int
    truncated: bool
    cursor: str | None = None
    digest: str = ""
    #: Rows of the result from this page's start to the result's end (None: to the end of the data).
    remaining: int | None = None

    def next_position(self, returned: int, has_more: bool) -> int | None:
        """Where the next page starts, or None when this response completes the result."""
        if not (self.truncated and has_more) or returned == 0:
            return None
        return self.position + returned


def plan(params: odata.ODataParams, *, size: int) -> Page:
    """The page of the result `params` identify that this response carries (page size `size`)."""
    position, cursor = _position(params)
    remaining = None if params.top is None else max(params.top - position, 0)
    length = size if remaining is None else min(size, remaining)
    truncated = remaining is None or remaining > size
    adapter_params = dataclasses.replace(params, skip=params.skip + position, top=length, skiptoken=None)
    return Page(adapter_params, position, truncated, cursor, _digest(params), remaining)
