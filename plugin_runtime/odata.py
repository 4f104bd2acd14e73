"""OData query options → one parsed, immutable `ODataParams`, shared by every adapter.

`$filter` is parsed by the maintained `odata-query` grammar into its frozen AST; adapters translate
that AST with a visitor (one per target language) and raise `unsupported()` for constructs they
cannot express instead of approximating. Parsed filters are cached (bounded) because dashboards
repeat the same queries; the AST is immutable, so sharing it is safe.

Hostile input is bounded before any adapter sees it, and answered 400 naming the construct (a
caller's error never counts against the plugin's circuit breaker):

    $filter      at most MAX_FILTER_LENGTH characters, MAX_FILTER_TOKENS tokens, MAX_FILTER_NODES
                 syntax-tree nodes, nested at most MAX_FILTER_DEPTH deep
    numbers      integer literals within 64-bit signed range, decimals finite and at most
                 MAX_NUMBER_LENGTH characters
    $top         0..MAX_TOP        $skip (and a $skiptoken's position)  0..MAX_SKIP
    options      at most MAX_OPTIONS per request, each value at most MAX_OPTION_LENGTH characters

The in-memory helpers at the bottom (`shape_rows`) apply $orderby/$skip/$top/$select/$count to rows
for adapters whose backend cannot do it (Prometheus, REST).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from odata_query import ast
from odata_query import exceptions as odata_exceptions
from odata_query.grammar import ODataLexer, ODataParser

from plugin_runtime import errors

MAX_TOP = 10_000
#: The largest $skip: fits every backend's offset type (SQL, Elasticsearch `from`, 32-bit ints).
MAX_SKIP = 2**31 - 1
MAX_FILTER_LENGTH = 4096
MAX_FILTER_TOKENS = 1024
MAX_FILTER_NODES = 1024
MAX_FILTER_DEPTH = 100
MAX_NUMBER_LENGTH = 40
MAX_OPTIONS = 64
MAX_OPTION_LENGTH = 4096
_INT64 = 2**63
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


def _too_complex(detail: str, *, limit: int) -> errors.InvalidQuery:
    return errors.InvalidQuery(f"$filter is too complex: {detail}", option="$filter", limit=limit)


def _check_tree(tree: ast._Node, text: str) -> None:
    """Depth, size and literal bounds over the parsed tree, walked without recursion."""
    nodes = 0
    stack: list[tuple[object, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (list, tuple)):
            stack.extend((item, depth) for item in node)
            continue
        if not isinstance(node, ast._Node):
            continue
        nodes += 1
        if nodes > MAX_FILTER_NODES:
            raise _too_complex(f"more than {MAX_FILTER_NODES} nodes", limit=MAX_FILTER_NODES)
        if depth > MAX_FILTER_DEPTH:
            raise _too_complex(f"nested more than {MAX_FILTER_DEPTH} deep", limit=MAX_FILTER_DEPTH)
        if isinstance(node, (ast.Integer, ast.Float)):
            _check_number(node, text)
        children = (getattr(node, field.name) for field in dataclasses.fields(node))
        stack.extend((child, depth + 1) for child in children if isinstance(child, (ast._Node, list, tuple)))


def _check_number(node: ast.Integer | ast.Float, text: str) -> None:
    literal = str(node.val)
    position = locate(text, literal)
    if len(literal) > MAX_NUMBER_LENGTH:
        raise errors.InvalidQuery(
            f"$filter: numeric literal of {len(literal)} characters (at most {MAX_NUMBER_LENGTH})",
            option="$filter",
            position=position,
        )
    if isinstance(node, ast.Integer):
        if not -_INT64 <= int(literal) < _INT64:
            raise errors.InvalidQuery(
                f"$filter: integer literal {literal} is outside the 64-bit range", option="$filter", position=position
            )
    elif not math.isfinite(float(literal)):
        raise errors.InvalidQuery(
            f"$filter: decimal literal {literal} is not a finite number", option="$filter", position=position
        )


@functools.lru_cache(maxsize=_PARSE_CACHE_SIZE)
def parse_filter(text: str) -> ast._Node:
    """Parse a $filter expression; malformed or oversized input raises `InvalidQuery` (with the
    failing position where there is one), whatever the parser itself raises."""
    if len(text) > MAX_FILTER_LENGTH:
        raise _too_complex(f"{len(text)} characters (at most {MAX_FILTER_LENGTH})", limit=MAX_FILTER_LENGTH)
    try:
        tokens = list(ODataLexer().tokenize(text))
        if len(tokens) > MAX_FILTER_TOKENS:
            raise _too_complex(f"more than {MAX_FILTER_TOKENS} tokens", limit=MAX_FILTER_TOKENS)
        tree: ast._Node = ODataParser().parse(iter(tokens))  # sly's parser is untyped
    except errors.InvalidQuery:
        raise
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
    except (ValueError, TypeError, ArithmeticError, RecursionError, MemoryError) as exc:
        raise errors.InvalidQuery(f"$filter cannot be parsed ({type(exc).__name__})", option="$filter") from None
    _check_tree(tree, text)
    return tree


def _non_negative_int(name: str, raw: str, *, maximum: int | None = None) -> int:
    if len(raw.strip()) > MAX_NUMBER_LENGTH:
        raise errors.InvalidQuery(f"{name} must be a non-negative integer of at most {maximum}", option=name)
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
    if len(items) > MAX_OPTIONS:
        raise errors.InvalidQuery(f"too many query options ({len(items)}, at most {MAX_OPTIONS})")
    for key, value in items:
        limit = MAX_FILTER_LENGTH if key == "$filter" else MAX_OPTION_LENGTH
        if len(value) > limit:
            raise errors.InvalidQuery(f"{key} is too long ({len(value)} characters, at most {limit})", option=key)
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
        skip=_non_negative_int("$skip", seen["$skip"], maximum=MAX_SKIP) if "$skip" in seen else 0,
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
    """Apply $orderby, $skip, $top and $select in memory; return (page, total before paging, has_more).

    The page holds the given rows themselves where they are dicts (only other mappings and `$select`
    make new ones): copying every row cost more than the rest of a large answer together.
    """
    # Sorting reorders the list, never the rows, so the rows themselves are not copied.
    ordered = list(rows) if params.orderby else rows
    for order in reversed(params.orderby):
        ordered.sort(key=functools.partial(_property_key, order.property), reverse=order.descending)  # type: ignore[attr-defined]
    total = len(ordered)
    top = params.top if params.top is not None else default_top
    end = None if top is None else params.skip + top
    page = [row if row.__class__ is dict else dict(row) for row in ordered[params.skip : end]]
    has_more = end is not None and end < total
    if params.select and "*" not in params.select:
        page = [{key: row.get(key) for key in params.select} for row in page]
    return page, total, has_more
