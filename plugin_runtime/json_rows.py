"""Rows kept as the JSON text they will be written as, decoded only if something reads them. Pure.

An adapter that can write its rows' JSON directly (Prometheus: one text per series for the labels,
one per instant and one per value, all shared) saves building a dict per row and encoding it
again: for 1,000 series × 10 samples that was most of the runtime's CPU per request. `JsonRows`
is a `Sequence` of rows like the tuple it stands in for, so everything that looks at rows
(processing steps, hooks, the result cache, cursor paging) still works, on rows decoded from the
text: the answer is the same whichever path wrote it.

    segments: runs of rows sharing an opening (e.g. one series' labels), with their lengths
    columns:  per row, the pieces after its opening (e.g. its timestamp's text, its value's), flat
    row i:    openings[segment of i] + columns[0][i] + columns[1][i] + ...   (UTF-8 bytes)
    answer:   "[" + rows joined by "," + "]"  as an `orjson.Fragment`, with no decode and no dicts

Nothing here is per row in Python: a row's text exists only inside the one join that writes the
answer (its pieces are shared: a series' opening, an instant's text, a repeated value), and a
slice slices the columns and cuts the segments at its two ends, so paging costs next to nothing.

Once iterated (or compared), the decoded rows are kept and become the truth: the answer is then
encoded from them, so a hook that changed them in place is honoured. Reading one row by index
decodes that row alone (a value: changing it changes nothing); slices stay text.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, overload

import orjson

__all__ = ["JsonRows"]

_SEPARATOR = b","


class JsonRows(Sequence[Mapping[str, Any]]):
    """Rows as JSON text segments; each row's text is one JSON object."""

    __slots__ = ("_columns", "_ends", "_openings", "_rows")

    def __init__(self, openings: Sequence[bytes], lengths: Sequence[int], *columns: Sequence[bytes]) -> None:
        """Segment s is `lengths[s]` rows opened by `openings[s]`; each column holds one piece per
        row, in row order (segments without rows are dropped)."""
        if len(openings) != len(lengths) or not columns:
            raise ValueError("one length per opening, and at least one column, are needed")
        ends = list(itertools.accumulate(lengths))
        if any(len(column) != (ends[-1] if ends else 0) for column in columns):
            raise ValueError("every column needs one piece per row")
        if 0 in lengths:
            kept = list(map(bool, lengths))
            openings, lengths = list(itertools.compress(openings, kept)), list(filter(None, lengths))
            ends = list(itertools.accumulate(lengths))
        self._openings: Sequence[bytes] = openings
        self._ends = ends
        self._columns: tuple[Sequence[bytes], ...] = columns
        self._rows: tuple[Mapping[str, Any], ...] | None = None

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    def text(self) -> bytes:
        """The JSON array of the rows: their pieces interleaved by slice assignment, then one join."""
        count = len(self)
        if not count:
            return b"[]"
        width = 1 + len(self._columns)
        pieces = [b"["] * (width * count + 2)
        separated = list(map(_SEPARATOR.__add__, self._openings))
        lengths = self._lengths()
        if lengths.count(lengths[0]) == len(lengths):  # equal segments (a range query's series): each
            step = width * lengths[0]  # row position of them takes the openings in one assignment
            for row in range(lengths[0]):
                pieces[1 + width * row : -1 : step] = separated
        else:
            pieces[1:-1:width] = list(itertools.chain.from_iterable(map(itertools.repeat, separated, lengths)))
        for offset, column in enumerate(self._columns, start=2):
            pieces[offset:-1:width] = column
        pieces[1] = pieces[1][1:]  # the first row has no separator before it
        pieces[-1] = b"]"
        return b"".join(pieces)

    def _lengths(self) -> list[int]:
        return list(map(int.__sub__, self._ends, [0, *self._ends[:-1]]))

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
        pieces = [self._openings[number], *(column[position] for column in self._columns)]
        row: Mapping[str, Any] = orjson.loads(b"".join(pieces))
        return row

    def _between(self, start: int, stop: int) -> JsonRows:
        """Rows start..stop-1: the columns sliced, the segments they touch (the two end ones cut)."""
        columns = [column[start:stop] for column in self._columns]
        if start >= stop:
            return JsonRows([], [], *columns)
        first = bisect.bisect_right(self._ends, start)
        last = bisect.bisect_left(self._ends, stop)  # the segment holding row stop - 1
        ends = self._ends[first:last]
        lengths = list(map(int.__sub__, [*ends, stop], [start, *ends]))
        return JsonRows(self._openings[first : last + 1], lengths, *columns)

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
