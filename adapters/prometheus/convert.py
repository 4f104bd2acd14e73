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
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from adapters.prometheus import model
from plugin_runtime import answer_json, errors
from plugin_runtime import json_rows as json_rows_module

_EPOCH = dt.datetime(1970, 1, 1)  # naive: isoformat() then writes no offset, and Z follows
_SPECIALS = {"NaN": "NaN", "+Inf": "INF", "-Inf": "-INF", "Inf": "INF"}
_PROBE = 256  # sample texts looked at to decide whether values repeat
_FIRST, _SECOND, _THIRD = operator.itemgetter(0), operator.itemgetter(1), operator.itemgetter(2)


def timestamp(seconds: float) -> str:
    """Prometheus' float seconds → '2023-11-14T22:13:20.000Z' (millisecond resolution, like Prometheus)."""
    moment = _EPOCH + dt.timedelta(milliseconds=round(float(seconds) * 1000))
    return moment.isoformat(timespec="milliseconds") + "Z"  # half the time of strftime


def _series(data: Mapping[str, Any]) -> Iterable[tuple[Mapping[str, str], Sequence[Sequence[Any]]]]:
    kind, result = data["resultType"], data["result"]
    if kind == "vector":
        return [(item["metric"], [item["value"]]) for item in result]
    if kind == "matrix":
        return [(item["metric"], item["values"]) for item in result]
    if kind == "scalar":
        return [({}, [result])]
    raise errors.BackendError(f"Prometheus answered a {kind!r} result, which has no rows")


class _Stamps(dict[float, str]):
    """Instants → their text, each formatted once: the series of a range query share one time grid."""

    def __missing__(self, at: float) -> str:
        text = self[at] = timestamp(at)
        return text


def _shared(labels: Mapping[str, str]) -> tuple[tuple[str, tuple[tuple[str, str], ...]], dict[str, Any]]:
    """A series' sort key (name, then labels) and the properties all its rows share, `metric` first."""
    items = tuple(sorted(labels.items()))
    shared: dict[str, Any] = {model.METRIC: None}
    shared.update(items)
    name = shared.pop(model.NAME_LABEL, None)
    shared[model.METRIC] = name  # also shadows a label named `metric`
    if model.TIMESTAMP in shared or model.VALUE in shared:  # and these two
        shared.pop(model.TIMESTAMP, None)
        shared.pop(model.VALUE, None)
    return (name or "", items), shared


def _keyed(data: Mapping[str, Any]) -> list[tuple[Any, dict[str, Any], Sequence[Sequence[Any]]]]:
    """(sort key, shared properties, samples) per series, in row order."""
    keyed = [(*_shared(labels), samples) for labels, samples in _series(data)]
    keyed.sort(key=_FIRST)
    return keyed


def _unexpected(exc: Exception) -> errors.BackendError:
    return errors.BackendError(f"Prometheus answered a result of an unexpected shape ({exc!r})")


def rows(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The `data` member of a successful /api/v1/query or /api/v1/query_range answer, as rows."""
    try:
        out: list[dict[str, Any]] = []
        append, special = out.append, _SPECIALS.get
        stamps = _Stamps()
        for _, shared, samples in _keyed(data):
            copy = shared.copy
            # This loop runs once per sample: nothing in it that could run once per series or answer.
            for at, text in samples:
                row = copy()
                row[model.TIMESTAMP] = stamps[at]
                # Another NaN/Inf spelling would still be a float: the answer encoder spells those too.
                row[model.VALUE] = float(text) if special(text) is None else special(text)
                append(row)
        return out
    except (KeyError, TypeError, ValueError) as exc:
        raise _unexpected(exc) from None


class _StampTexts(dict[float, str]):
    """Instants → the JSON text from the timestamp's value to the value's key: `…Z","value":`."""

    def __missing__(self, at: float) -> str:
        text = self[at] = timestamp(at) + '","' + model.VALUE + '":'
        return text


def _written(texts: Sequence[Any]) -> list[str]:
    """Sample texts → their row values' JSON and the rows' end (`12.0}`), as `rows` and the answer
    encoder write them: orjson's float, the IEEE specials as OData's strings. One orjson call."""
    numbers = list(map(float, texts))
    written = orjson.dumps(numbers)  # floats hold no commas; orjson writes NaN and ±Inf as null
    pieces = (written[1:-1].decode() + "}").replace(",", "},").split(",")
    if b"null" in written:
        pieces = [
            piece if math.isfinite(number) else f'"{answer_json.SPECIALS[repr(number)]}"}}'
            for piece, number in zip(pieces, numbers, strict=True)
        ]
    return pieces


def _value_texts(texts: Sequence[Any]) -> list[str]:
    """`_written(texts)`; when the first texts repeat (gauges, counts, 0/1), each distinct one is
    written once, which is cheaper than a float per sample; otherwise all in bulk."""
    if not texts:
        return []
    head = texts[:_PROBE]
    if len(set(head)) * 2 > len(head):
        return _written(texts)
    distinct = list(dict.fromkeys(texts))
    return list(map(dict(zip(distinct, _written(distinct), strict=True)).__getitem__, texts))


def json_rows(data: Mapping[str, Any]) -> json_rows_module.JsonRows:
    """The same rows as `rows`, written as their JSON text: no dict per sample, each series' labels
    and each instant formatted once, the values in one orjson call (the answers are byte-equal)."""
    try:
        keyed = [series for series in _keyed(data) if series[2]]
        flat = list(itertools.chain.from_iterable(map(_THIRD, keyed)))
        ats, texts = zip(*flat, strict=True) if flat else ((), ())  # a sample that is no pair: ValueError
        # One text per row from its timestamp on: `2023-11-14T22:13:20.000Z","value":12.0}`.
        endings = list(map(operator.add, map(_StampTexts().__getitem__, ats), _value_texts(texts)))
        # A row is {"metric":…,labels…,"timestamp":"<ending>: each series' part written once.
        opening = ',"' + model.TIMESTAMP + '":"'
        prefixes = [orjson.dumps(shared).decode()[:-1] + opening for shared in map(_SECOND, keyed)]
        ends = list(itertools.accumulate(map(len, map(_THIRD, keyed))))
        starts = [0, *ends[:-1]]
        return json_rows_module.JsonRows(
            list(zip(prefixes, map(endings.__getitem__, map(slice, starts, ends)), strict=True))
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise _unexpected(exc) from None
