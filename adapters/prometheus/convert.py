"""Prometheus API results → OData rows: one row per sample. Pure.

A row holds the series' labels, `metric` (the series name, None once PromQL dropped it, e.g. after
rate() or an aggregation), `timestamp` (ISO 8601 UTC with milliseconds, so text order is time
order) and `value` (a number; the IEEE specials as OData JSON writes them: "NaN", "INF", "-INF").
Labels named like those three fields are shadowed by them. Series come out in label order and
samples in time order, so equal requests give equal pages.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from adapters.prometheus import model
from plugin_runtime import errors

_EPOCH = dt.datetime(1970, 1, 1)  # naive: isoformat() then writes no offset, and Z follows
_SPECIALS = {"NaN": "NaN", "+Inf": "INF", "-Inf": "-INF", "Inf": "INF"}


def timestamp(seconds: float) -> str:
    """Prometheus' float seconds → '2023-11-14T22:13:20.000Z' (millisecond resolution, like Prometheus)."""
    moment = _EPOCH + dt.timedelta(milliseconds=round(float(seconds) * 1000))
    return moment.isoformat(timespec="milliseconds") + "Z"  # half the time of strftime


def number(text: str) -> float | str:
    if text in _SPECIALS:
        return _SPECIALS[text]
    value = float(text)
    return _SPECIALS["NaN"] if math.isnan(value) else value


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
    """A series' sort key (name, then labels) and the properties all its rows share."""
    items = tuple(sorted(labels.items()))
    name = labels.get(model.NAME_LABEL)
    shared: dict[str, Any] = {model.METRIC: name}
    shared.update(item for item in items if item[0] != model.NAME_LABEL and item[0] not in model.RESERVED_PROPERTIES)
    return (name or "", items), shared


def rows(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The `data` member of a successful /api/v1/query or /api/v1/query_range answer, as rows."""
    try:
        keyed = [(*_shared(labels), samples) for labels, samples in _series(data)]
        keyed.sort(key=lambda item: item[0])
        out: list[dict[str, Any]] = []
        append, special = out.append, _SPECIALS.get
        stamps = _Stamps()
        for _, shared, samples in keyed:
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
        raise errors.BackendError(f"Prometheus answered a result of an unexpected shape ({exc!r})") from None
