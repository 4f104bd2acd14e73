"""OData query options → one parsed, immutable `ODataParams`, shared by every adapter.

`$filter` is parsed by the maintained `odata-query` grammar into its frozen AST; adapters translate
that AST with a visitor (one per target language) and raise `unsupported()` for constructs they
cannot express instead of approximating. Parsed filters are cached (bounded) because dashboards
repeat the same queries; the AST is immutable, so sharing it is safe.

The in-memory helpers at the bottom (`shape_rows`) apply $orderby/$skip/$top/$select/$count to rows
for adapters whose backend cannot do it (Prometheus, REST).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from odata_query import ast
from odata_query import exceptions as odata_exceptions
from odata_query.grammar import ODataLexer, ODataParser

from plugin_runtime import errors

MAX_TOP = 10_000
_PARSE_CACHE_SIZE = 1024
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*$")
_SYSTEM_OPTIONS = {"$filter", "$select", "$orderby", "$top", "$skip", "$count", "$format", "$skiptoken"}


@dataclasses.dataclass(frozen=True)
class OrderBy:
    """One `$orderby` item: a property, ascending unless `descending`."""

    property: str
    descending: bool = False


@dataclasses.dataclass(frozen=True)
class ODataParams:
    """The query options of one request. `custom` holds non-$ options such as `step=60s`."""

    filter: str | None = None
    filter_ast: ast._Node | None = None
    select: tuple[str, ...] = ()
    orderby: tuple[OrderBy, ...] = ()
    top: int | None = None
    skip: int = 0
    count: bool = False
    custom: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: The opaque position of a server-driven page (see `plugin_runtime.paging`); adapters never see one.
    skiptoken: str | None = None

    def to_query(self) -> dict[str, str]:
        """The options as query-string parameters again (for nextLink and pass-through adapters)."""
        out: dict[str, str] = {}
        if self.filter:
            out["$filter"] = self.filter
        if self.select:
            out["$select"] = ",".join(self.select)
        if self.orderby:
            out["$orderby"] = ",".join(f"{o.property} {'desc' if o.descending else 'asc'}" for o in self.orderby)
        if self.top is not None:
            out["$top"] = str(self.top)
        if self.skip:
            out["$skip"] = str(self.skip)
        if self.count:
            out["$count"] = "true"
        out.update(self.custom)
        return out


def locate(source: str, fragment: str) -> int | None:
    """0-based position of a construct in the filter text, so errors can point at it.

    A construct that starts or ends with a word character is matched as a whole word there, so the
    operator `or` is not found inside a property named `color`.
    """
    pattern = re.escape(fragment)
    if fragment[:1].isalnum() or fragment[:1] == "_":
        pattern = r"(?<!\w)" + pattern
    if fragment[-1:].isalnum() or fragment[-1:] == "_":
        pattern += r"(?!\w)"
    match = re.search(pattern, source)
    return match.start() if match else None


def unsupported(construct: str, *, source: str | None, adapter: str, hint: str = "") -> errors.NotSupported:
    """The error an adapter raises for valid OData it cannot express in its backend's language."""
    position = locate(source, construct) if source else None
    detail = f"the {adapter} adapter cannot translate {construct!r}"
    if position is not None:
        detail += f" (at position {position})"
    if hint:
        detail += f": {hint}"
    return errors.NotSupported(detail, construct=construct, position=position)


@functools.lru_cache(maxsize=_PARSE_CACHE_SIZE)
def parse_filter(text: str) -> ast._Node:
    """Parse a $filter expression; malformed input raises `InvalidQuery` with the failing position."""
    try:
        tree: ast._Node = ODataParser().parse(ODataLexer().tokenize(text))  # sly's parser is untyped
        return tree
    except odata_exceptions.TokenizingException as exc:
        position = getattr(exc.token, "index", None)
        raise errors.InvalidQuery(
            f"$filter: unexpected character {getattr(exc.token, 'value', '?')!r} at position {position}",
            option="$filter",
            position=position,
        ) from None
    except odata_exceptions.ParsingException as exc:
        if exc.eof or exc.token is None:
            raise errors.InvalidQuery(
                "$filter: the expression ends too early", option="$filter", position=len(text)
            ) from None
        position = exc.token.index
        raise errors.InvalidQuery(
            f"$filter: unexpected {exc.token.value!r} at position {position}", option="$filter", position=position
        ) from None
    except odata_exceptions.ODataException as exc:
        raise errors.InvalidQuery(f"$filter: {exc}", option="$filter") from None


def _non_negative_int(name: str, raw: str, *, maximum: int | None = None) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise errors.InvalidQuery(f"{name} must be a non-negative integer, got {raw!r}", option=name) from None
    if value < 0:
        raise errors.InvalidQuery(f"{name} must be a non-negative integer, got {raw!r}", option=name)
    if maximum is not None and value > maximum:
        raise errors.InvalidQuery(f"{name} must be at most {maximum}, got {value}", option=name)
    return value


def _property_list(name: str, raw: str) -> tuple[str, ...]:
    items = tuple(item.strip() for item in raw.split(",") if item.strip())
    if not items:
        raise errors.InvalidQuery(f"{name} must name at least one property", option=name)
    for item in items:
        if item != "*" and not _IDENTIFIER.match(item):
            raise errors.InvalidQuery(f"{name}: {item!r} is not a property name", option=name)
    return items


def _orderby(raw: str) -> tuple[OrderBy, ...]:
    result = []
    for item in (part.strip() for part in raw.split(",")):
        words = item.split()
        if not words or len(words) > 2 or not _IDENTIFIER.match(words[0]):
            raise errors.InvalidQuery(f"$orderby: {item!r} must be '<property> [asc|desc]'", option="$orderby")
        direction = words[1].lower() if len(words) == 2 else "asc"
        if direction not in ("asc", "desc"):
            raise errors.InvalidQuery(f"$orderby: direction must be asc or desc, got {words[1]!r}", option="$orderby")
        result.append(OrderBy(words[0], direction == "desc"))
    return tuple(result)


def parse_params(options: Mapping[str, str] | Iterable[tuple[str, str]]) -> ODataParams:
    """Parse raw query-string options (as received over HTTP) into `ODataParams`."""
    items = list(options.items()) if isinstance(options, Mapping) else list(options)
    seen: dict[str, str] = {}
    for key, value in items:
        if key in seen:
            raise errors.InvalidQuery(f"query option {key} given more than once", option=key)
        seen[key] = value
    unknown = [k for k in seen if k.startswith("$") and k not in _SYSTEM_OPTIONS]
    if unknown:
        raise errors.InvalidQuery(f"unknown system query option {unknown[0]}", option=unknown[0])
    fmt = seen.get("$format")
    if fmt is not None and fmt.lower() != "json":
        raise errors.InvalidQuery("$format: only json is supported", option="$format")
    filter_text = seen.get("$filter")
    if filter_text is not None and not filter_text.strip():
        raise errors.InvalidQuery("$filter must not be empty", option="$filter")
    count_raw = seen.get("$count", "false").lower()
    if count_raw not in ("true", "false"):
        raise errors.InvalidQuery(f"$count must be true or false, got {seen['$count']!r}", option="$count")
    skiptoken = seen.get("$skiptoken")
    if skiptoken is not None and not skiptoken.strip():
        raise errors.InvalidQuery("$skiptoken must not be empty", option="$skiptoken")
    return ODataParams(
        filter=filter_text,
        filter_ast=parse_filter(filter_text) if filter_text is not None else None,
        select=_property_list("$select", seen["$select"]) if "$select" in seen else (),
        orderby=_orderby(seen["$orderby"]) if "$orderby" in seen else (),
        top=_non_negative_int("$top", seen["$top"], maximum=MAX_TOP) if "$top" in seen else None,
        skip=_non_negative_int("$skip", seen["$skip"]) if "$skip" in seen else 0,
        count=count_raw == "true",
        custom={k: v for k, v in seen.items() if not k.startswith("$")},
        skiptoken=skiptoken,
    )


def _property_key(name: str, row: Mapping[str, Any]) -> tuple[int, Any]:
    return _sort_key(row.get(name))


def _sort_key(value: Any) -> tuple[int, Any]:
    # None sorts first (OData: null is the smallest value); mixed types fall back to their text.
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, (int, float)):
        return (1, value)
    return (2, str(value))


def shape_rows(
    rows: Sequence[Mapping[str, Any]], params: ODataParams, *, default_top: int | None = None
) -> tuple[list[dict[str, Any]], int, bool]:
    """Apply $orderby, $skip, $top and $select in memory; return (page, total before paging, has_more)."""
    ordered = [dict(row) for row in rows]
    for order in reversed(params.orderby):
        ordered.sort(key=functools.partial(_property_key, order.property), reverse=order.descending)
    total = len(ordered)
    top = params.top if params.top is not None else default_top
    end = None if top is None else params.skip + top
    page = ordered[params.skip : end]
    has_more = end is not None and end < total
    if params.select and "*" not in params.select:
        page = [{key: row.get(key) for key in params.select} for row in page]
    return page, total, has_more
