"""The time side of a Prometheus query: `timestamp` conditions → instant or range query call. Pure.

A lower and/or upper bound makes a range query (/api/v1/query_range) evaluated every `step`;
`timestamp eq` makes an instant query at that time; no condition, an instant query now. "Now" is
resolved per request, which is why the translation cache keeps the `TimeRange`, not the call.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

from odata_query import ast

from adapters._common import literals
from adapters.prometheus import model
from plugin_runtime import config as runtime_config
from plugin_runtime import errors, odata

#: Prometheus refuses range queries with more points per series than this.
MAX_POINTS = 11_000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclasses.dataclass(frozen=True)
class TimeRange:
    """The `timestamp` conditions: bounds of a range query, or the instant of an instant query."""

    start: dt.datetime | None = None
    start_exclusive: bool = False
    end: dt.datetime | None = None
    end_exclusive: bool = False
    at: dt.datetime | None = None


@dataclasses.dataclass(frozen=True)
class Call:
    """One Prometheus HTTP API call: endpoint path and form parameters (`query` included)."""

    endpoint: str
    params: tuple[tuple[str, str], ...]


def _tighter(
    current: dt.datetime | None, exclusive: bool, moment: dt.datetime, strict: bool, *, latest: bool
) -> tuple[dt.datetime, bool]:
    """The tighter of two bounds (the later start or the earlier end); at a tie, the exclusive one."""
    if current is None:
        return moment, strict
    if moment == current:
        return current, exclusive or strict
    tighter = moment > current if latest else moment < current
    return (moment, strict) if tighter else (current, exclusive)


def from_conditions(conditions: list[ast.Compare], *, source: str | None) -> TimeRange:
    """The range or instant that `timestamp` comparisons (all and-ed at the top level) describe."""
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    at: dt.datetime | None = None
    start_exclusive = end_exclusive = False
    for condition in conditions:
        parts = literals.comparison(condition)
        assert parts is not None
        _, operator, literal = parts
        moment = literals.instant(literal, property_name=model.TIMESTAMP)
        if isinstance(operator, (ast.Gt, ast.GtE)):
            start, start_exclusive = _tighter(start, start_exclusive, moment, isinstance(operator, ast.Gt), latest=True)
        elif isinstance(operator, (ast.Lt, ast.LtE)):
            end, end_exclusive = _tighter(end, end_exclusive, moment, isinstance(operator, ast.Lt), latest=False)
        elif isinstance(operator, ast.Eq) and at in (None, moment):
            at = moment
        else:
            raise odata.unsupported(
                f"{model.TIMESTAMP} {literals.keyword(operator)}",
                source=source,
                adapter=model.ADAPTER,
                hint="timestamp takes one eq (instant query) or ge/gt and le/lt bounds (range query)",
            )
    if at is not None and (start is not None or end is not None):
        raise odata.unsupported(
            f"{model.TIMESTAMP} eq",
            source=source,
            adapter=model.ADAPTER,
            hint="use either timestamp eq or a range, not both",
        )
    if end is not None and start is None:
        raise odata.unsupported(
            f"{model.TIMESTAMP} {'lt' if end_exclusive else 'le'}",
            source=source,
            adapter=model.ADAPTER,
            hint="a range query needs a start: add timestamp ge …",
        )
    return TimeRange(start=start, start_exclusive=start_exclusive, end=end, end_exclusive=end_exclusive, at=at)


def step_seconds(raw: str | None, *, default: float) -> float:
    """The `step` custom query option (e.g. `step=60s`), else the query definition's default."""
    if raw is None:
        return default
    try:
        step = runtime_config.parse_duration(raw)
    except ValueError:
        raise errors.InvalidQuery(f"step: {raw!r} is not a duration (e.g. 60s, 5m)", option="step") from None
    if step <= 0:
        raise errors.InvalidQuery("step: must be positive", option="step")
    return step


def _unix(moment: dt.datetime) -> str:
    return f"{(moment - _EPOCH).total_seconds():.3f}"


def call(expr: str, time: TimeRange, *, step: float, now: dt.datetime) -> Call | None:
    """The API call that evaluates `expr` over `time` at this moment; None when the range holds no point.

    Range queries evaluate at start, start+step, ... ≤ end; an exclusive start moves one step on,
    an exclusive end one millisecond back (Prometheus' resolution), so every row meets the filter.
    An open range ends now; no timestamp condition means an instant query now.
    """
    if time.start is None:
        return Call("/api/v1/query", (("query", expr), ("time", _unix(time.at or now))))
    start = time.start + dt.timedelta(seconds=step) if time.start_exclusive else time.start
    end = time.end if time.end is not None else now
    if time.end_exclusive:
        end -= dt.timedelta(milliseconds=1)
    if end < start:
        return None
    points = math.floor((end - start).total_seconds() / step) + 1
    if points > MAX_POINTS:
        raise errors.InvalidQuery(
            f"step: the time range holds {points} steps of {step:g}s; Prometheus answers at most {MAX_POINTS}:"
            " use a larger step or a shorter range",
            option="step",
        )
    params = (("query", expr), ("start", _unix(start)), ("end", _unix(end)), ("step", f"{step:g}"))
    return Call("/api/v1/query_range", params)
