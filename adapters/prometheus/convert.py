"""Prometheus API results → OData rows: one row per sample. Pure.

A row holds the series' labels, `metric` (the series name, None once PromQL dropped it, e.g. after
rate() or an aggregation), `timestamp` (ISO 8601 UTC with milliseconds, so text order is time
order) and `value` (a number; the IEEE specials as OData JSON writes them: "NaN", "INF", "-INF").
Labels named like those three fields are shadowed by them. Series come out in label order and
samples in time order, so equal requests give equal pages.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from adapters.prometheus import model
from plugin_runtime import answer_json, errors
from plugin_runtime import json_rows as json_rows_module

_EPOCH = dt.datetime(1970, 1, 1)  # naive: isoformat() then writes no offset, and Z follows
_SPECIALS = {"NaN": "NaN", "+Inf": "INF", "-Inf": "-INF", "Inf": "INF"}
_PROBE = 256  # sample texts looked at to decide whether values repeat
_LABELS, _SAMPLES, _SAMPLE = operator.itemgetter("metric"), operator.itemgetter("values"), operator.itemgetter("value")
_NAME = operator.methodcaller("get", model.NAME_LABEL)
_HAS_NAME = operator.methodcaller("__contains__", model.NAME_LABEL)
_METRIC_FIRST = ((model.METRIC, None),)
_SHADOWED = frozenset((model.TIMESTAMP, model.VALUE))
_RESERVED = frozenset(model.RESERVED_PROPERTIES)
#: How a series' labels' sorted JSON starts when its name is its first label, and what follows
#: (within the text between its braces).
_NAME_FIRST = b'{"' + model.NAME_LABEL.encode() + b'":'
_AFTER_NAME = slice(len(_NAME_FIRST) - 1, None)
#: A row's opening in place of `{"__name__":`, or before the labels of a series without a name.
_NAMED_OPENING = b'{"' + model.METRIC.encode() + b'":'
_UNNAMED_OPENING = _NAMED_OPENING + b"null,"
#: A row's text from its labels' end to its value's: `,"timestamp":"…Z","value":`.
_TIMESTAMP_OPENING = b',"' + model.TIMESTAMP.encode() + b'":"'
_VALUE_OPENING = b'","' + model.VALUE.encode() + b'":'


def timestamp(seconds: float) -> str:
    """Prometheus' float seconds → '2023-11-14T22:13:20.000Z' (millisecond resolution, like Prometheus)."""
    moment = _EPOCH + dt.timedelta(milliseconds=round(float(seconds) * 1000))
    return moment.isoformat(timespec="milliseconds") + "Z"  # half the time of strftime


def _series(data: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[Sequence[Sequence[Any]]]]:
    """Each series' labels and samples, in the answer's order.

    Built with `map` over the series rather than a Python loop, as everything per series here: a
    range query's answer has as many series as rows per series, often more."""
    kind, result = data["resultType"], data["result"]
    if kind == "scalar":
        return [{}], [[result]]
    if kind not in ("vector", "matrix"):
        raise errors.BackendError(f"Prometheus answered a {kind!r} result, which has no rows")
    labels: list[dict[str, Any]] = list(map(_LABELS, result))
    if kind == "matrix":
        return labels, list(map(_SAMPLES, result))
    return labels, [[sample] for sample in map(_SAMPLE, result)]


def _names(labels: Sequence[Mapping[str, Any]]) -> list[Any]:
    return [name or "" for name in map(_NAME, labels)]


def _label_order(labels: Sequence[dict[str, Any]]) -> tuple[list[list[tuple[str, Any]]], list[int]]:
    """Each series' labels sorted by name, and the series' row order: by name, then labels."""
    items: list[list[tuple[str, Any]]] = list(map(sorted, map(dict.items, labels)))
    keys = list(zip(_names(labels), items, strict=True))
    return items, _order(keys)


def _order(keys: Sequence[Any]) -> list[int]:
    """The positions of `keys` in sorted order (stable; next to free when they are in order already)."""
    key: Callable[[int], Any] = keys.__getitem__
    return sorted(range(len(keys)), key=key)


def _json_layout(labels: Sequence[dict[str, Any]]) -> tuple[list[int], list[bytes]] | None:
    """`_label_order`'s order and each series' row opening (`orjson.dumps` of its `_shared`
    properties, the closing brace cut), both from the labels' JSON with sorted keys, written in one
    call for all series; None when that could differ from the dict path, which then decides.

    Order: the byte order of `{"k1":"v1","k2":"v2"` (the closing brace cut) is the order of the pairs
    (k1, v1), (k2, v2) when every label value is a string and no string holds a character below '#':
    UTF-8 keeps code point order, a string that is a prefix of another ends in '"', below any
    character that could follow it, and a label list that is a prefix of another is a prefix of its
    text. A '"', a backslash or a control character in a string is escaped (a backslash shows it); a
    value that is no string has no quotes, unless it holds an object or a list (another '{' or
    '['), so with 4 quotes per label all values are strings; ' ' and '!' are the two characters left
    below '#'. No string holds a '{' either, so `},{` only ever parts two series. When every series'
    name is its first label (`{"__name__":"…"`), or no series has one, the name comes first in the
    text as in the order: comparing bytes then orders the series, a memcmp instead of tuples of pairs.

    Opening: `{"__name__":` becomes `{"metric":`, or `{"metric":null,` goes first. Left to the dict
    path: a label the rows' own properties shadow, and a name that sorts after another label."""
    if not labels:
        return [], []
    written = orjson.dumps(labels, option=orjson.OPT_SORT_KEYS)  # [{…},{…},…]
    names = set().union(*labels)  # label names: keys, never escaped
    if (
        b"\\" in written
        or b" " in written
        or b"!" in written
        or written.count(b"[") != 1
        or written.count(b"{") != len(labels)
        or written.count(b'"') != 4 * sum(map(len, labels))
        or not _RESERVED.isdisjoint(names)
    ):
        return None
    inner = written[2:-2].split(b"},{")  # each series' `"k1":"v1",…`
    named = written.count(_NAME_FIRST)
    if named == len(labels):
        after_names = map(operator.getitem, inner, itertools.repeat(_AFTER_NAME))
        openings = list(map(operator.add, itertools.repeat(_NAMED_OPENING), after_names))
    elif named == 0 and model.NAME_LABEL not in names:
        openings = [(_UNNAMED_OPENING + text).rstrip(b",") for text in inner]  # `{}`: no comma
    else:
        return None
    # The openings order as the texts do: one prefix in place of another, the same rest.
    return _order(openings), openings


def _shared(items: Sequence[Sequence[tuple[str, Any]]]) -> list[dict[str, Any]]:
    """Per series, the properties all its rows share: `metric` (the name, also shadowing a label named
    `metric`) first, then the other labels in name order; labels named `timestamp` or `value` are
    shadowed by the rows' own."""
    shared = list(map(dict, map(itertools.chain, itertools.repeat(_METRIC_FIRST), items)))
    for properties in shared:
        properties[model.METRIC] = properties.pop(model.NAME_LABEL, None)
    if not _SHADOWED.isdisjoint(itertools.chain.from_iterable(shared)):
        for properties in shared:
            properties.pop(model.TIMESTAMP, None)
            properties.pop(model.VALUE, None)
    return shared


def _unexpected(exc: Exception) -> errors.BackendError:
    return errors.BackendError(f"Prometheus answered a result of an unexpected shape ({exc!r})")


class _Stamps(dict[float, str]):
    """Instants → their text, each formatted once: the series of a range query share one time grid."""

    def __missing__(self, at: float) -> str:
        text = self[at] = timestamp(at)
        return text


def rows(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The `data` member of a successful /api/v1/query or /api/v1/query_range answer, as rows."""
    try:
        out: list[dict[str, Any]] = []
        append, special = out.append, _SPECIALS.get
        stamps = _Stamps()
        labels, samples = _series(data)
        items, order = _label_order(labels)
        ordered = zip(_shared(list(map(items.__getitem__, order))), map(samples.__getitem__, order), strict=True)
        for shared, series in ordered:
            copy = shared.copy
            # This loop runs once per sample: nothing in it that could run once per series or answer.
            for at, text in series:
                row = copy()
                row[model.TIMESTAMP] = stamps[at]
                # Another NaN/Inf spelling would still be a float: the answer encoder spells those too.
                row[model.VALUE] = float(text) if special(text) is None else special(text)
                append(row)
        return out
    except (KeyError, TypeError, ValueError) as exc:
        raise _unexpected(exc) from None


class _StampTexts(dict[float, bytes]):
    """Instants → a row's text from its labels' end to its value: `,"timestamp":"…Z","value":`."""

    def __missing__(self, at: float) -> bytes:
        text = self[at] = _TIMESTAMP_OPENING + timestamp(at).encode() + _VALUE_OPENING
        return text


def _stamp_column(ats: tuple[float, ...], lengths: list[int]) -> Sequence[bytes]:
    """Per sample, `_StampTexts` of its instant. The series of a range query usually share one grid
    of instants: then the grid's texts are repeated as a whole, else each instant is looked up."""
    texts = _StampTexts()
    width = lengths[0]
    if lengths.count(width) == len(lengths) and ats[:width] * len(lengths) == ats:
        return list(map(texts.__getitem__, ats[:width])) * len(lengths)
    return list(map(texts.__getitem__, ats))


def _special(number: float) -> bytes:
    return b'"' + answer_json.SPECIALS[repr(number)].encode() + b'"}'


def _written(texts: Sequence[Any]) -> list[bytes]:
    """Sample texts → their row values' JSON and the rows' end (`12.0}`), as `rows` and the answer
    encoder write them: orjson's float, the IEEE specials as OData's strings. One orjson call."""
    numbers = list(map(float, texts))
    written = orjson.dumps(numbers)  # floats hold no commas; orjson writes NaN and ±Inf as null
    pieces = (written[1:-1] + b"}").replace(b",", b"},").split(b",")
    if b"null" in written:
        pieces = [
            piece if math.isfinite(number) else _special(number) for piece, number in zip(pieces, numbers, strict=True)
        ]
    return pieces


class _ValueTexts(dict[Any, bytes]):
    """Sample texts → `_written` of each, computed once per distinct text."""

    def __missing__(self, text: Any) -> bytes:
        number = float(text)
        written = self[text] = orjson.dumps(number) + b"}" if math.isfinite(number) else _special(number)
        return written


def _value_column(texts: Sequence[Any]) -> Sequence[bytes]:
    """`_written(texts)`; when the first texts repeat (gauges, counts, 0/1), each distinct one is
    written once, which is cheaper than a float per sample; otherwise all in bulk."""
    head = texts[:_PROBE]
    if len(set(head)) * 2 > len(head):
        return _written(texts)
    return list(map(_ValueTexts().__getitem__, texts))


def json_rows(data: Mapping[str, Any]) -> json_rows_module.JsonRows:
    """The same rows as `rows`, written as their JSON text: no dict per sample, each series' labels,
    each instant and each repeated value formatted once (the answers are byte-equal)."""
    try:
        labels, samples = _series(data)
        layout = _json_layout(labels)
        if layout is None:
            items, order = _label_order(labels)
            openings = [text[:-1] for text in map(orjson.dumps, _shared(items))]
        else:
            order, openings = layout
        if order != list(range(len(order))):  # Prometheus' own order is usually this one
            openings, samples = list(map(openings.__getitem__, order)), list(map(samples.__getitem__, order))
        lengths = list(map(len, samples))
        if not any(lengths):
            return json_rows_module.JsonRows([], [], [])
        # A sample that is no [instant, text] pair fails here (strict zip, or not two columns).
        ats, values = zip(*itertools.chain.from_iterable(samples), strict=True)
        # A row is {"metric":…,labels…,"timestamp":"<instant>","value":<value>}: one opening per
        # series, then per sample its instant's text (shared) and its value's.
        return json_rows_module.JsonRows(openings, lengths, _stamp_column(ats, lengths), _value_column(values))
    except (KeyError, TypeError, ValueError) as exc:
        raise _unexpected(exc) from None
