"""Rows kept as the JSON text they will be written as, decoded only if something reads them. Pure.

An adapter that can write its rows' JSON directly (Prometheus: one text per series for the labels,
one per instant and one per value, all shared) saves building a dict per row and encoding it
again: for 1,000 series × 10 samples that was most of the runtime's CPU per request. `JsonRows`
is a `Sequence` of rows like the tuple it stands in for, so everything that looks at rows
(processing steps, hooks, the result cache, cursor paging) still works, on rows decoded from the
text: the answer is the same whichever path wrote it.

    segments: (prefix, suffixes) — row i of a segment is  prefix + suffixes[i]
    answer:   "[" + rows joined by "," + "]"  as an `orjson.Fragment`, with no decode and no dicts

Once iterated (or compared), the decoded rows are kept and become the truth: the answer is then
encoded from them, so a hook that changed them in place is honoured. Reading one row by index
decodes that row alone (a value: changing it changes nothing); slices stay text.
"""

from __future__ import annotations

import bisect
import itertools
import operator
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, overload

import orjson

__all__ = ["JsonRows", "Segment"]

#: A run of rows sharing a prefix (e.g. one series' labels): row i is `prefix + suffixes[i]`.
Segment = tuple[str, Sequence[str]]


class JsonRows(Sequence[Mapping[str, Any]]):
    """Rows as JSON text segments; each row's text is one JSON object."""

    __slots__ = ("_ends", "_prefixes", "_rows", "_suffixes")

    def __init__(self, segments: Sequence[Segment]) -> None:
        kept = [segment for segment in segments if segment[1]]
        self._prefixes: list[str] = [prefix for prefix, _ in kept]
        self._suffixes: list[Sequence[str]] = [suffixes for _, suffixes in kept]
        self._ends = list(itertools.accumulate(map(len, self._suffixes)))
        self._rows: tuple[Mapping[str, Any], ...] | None = None

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    def text(self) -> str:
        """The JSON array of the rows (per segment: prefix + suffix, joined by "," + prefix)."""
        if not self._prefixes:
            return "[]"
        rests = map(str.join, map(operator.add, itertools.repeat(","), self._prefixes), self._suffixes)
        openers = ["[", *itertools.repeat(",", len(self._prefixes) - 1)]
        # One join of [ prefix rest , prefix rest ... ]: the answer's text is copied once, not per piece.
        return "".join(
            itertools.chain(itertools.chain.from_iterable(zip(openers, self._prefixes, rests, strict=True)), ("]",))
        )

    def fragment(self) -> orjson.Fragment | None:
        """The rows' JSON for orjson to embed as it is; None once decoded rows are the truth."""
        return None if self._rows is not None else orjson.Fragment(self.text())

    def rows(self) -> tuple[Mapping[str, Any], ...]:
        """The decoded rows (decoded once, then kept)."""
        if self._rows is None:
            self._rows = tuple(orjson.loads(self.text()))
        return self._rows

    def __iter__(self) -> Iterator[Mapping[str, Any]]:
        return iter(self.rows())

    @overload
    def __getitem__(self, index: int) -> Mapping[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> JsonRows | tuple[Mapping[str, Any], ...]: ...

    def __getitem__(self, index: int | slice) -> Mapping[str, Any] | JsonRows | tuple[Mapping[str, Any], ...]:
        if self._rows is not None:
            return self._rows[index]
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                return tuple(self[position] for position in range(start, stop, step))
            return self._between(start, stop)
        position = index + len(self) if index < 0 else index
        if not 0 <= position < len(self):
            raise IndexError("row index out of range")
        number = bisect.bisect_right(self._ends, position)
        prefix, suffixes = self._prefixes[number], self._suffixes[number]
        first = self._ends[number] - len(suffixes)
        row: Mapping[str, Any] = orjson.loads(prefix + suffixes[position - first])
        return row

    def _between(self, start: int, stop: int) -> JsonRows:
        kept: list[Segment] = []
        first = 0
        for prefix, suffixes, end in zip(self._prefixes, self._suffixes, self._ends, strict=True):
            if end > start and first < stop:
                kept.append((prefix, suffixes[max(start - first, 0) : stop - first]))
            first = end
        return JsonRows(kept)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return self.rows() == tuple(other)

    __hash__ = None  # type: ignore[assignment]  # rows are dicts: unhashable, like a tuple of them

    def __add__(self, other: Sequence[Mapping[str, Any]]) -> tuple[Mapping[str, Any], ...]:
        return self.rows() + tuple(other)

    def __radd__(self, other: Sequence[Mapping[str, Any]]) -> tuple[Mapping[str, Any], ...]:
        return tuple(other) + self.rows()

    def __repr__(self) -> str:
        return f"JsonRows({len(self)} rows)"
