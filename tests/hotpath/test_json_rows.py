"""Prometheus rows written straight to JSON text (`convert.json_rows`) answer exactly what the dict
path (`convert.rows`, then the answer encoder) answers, on generated Prometheus results, and read
the same wherever the runtime looks at rows (slices, items, iteration, cursors, hooks)."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.prometheus import convert
from plugin_runtime import answer_json, cursors, errors, interface, json_rows

#: Texts orjson writes without escapes, of characters from '#' up but '{' and '[' (with , : and }),
#: short so that series share prefixes: the labels' JSON then orders the series (`_json_layout`).
_PLAIN_TEXT = st.text("#$,09:AZ_az}~\x7fé✓", max_size=3)
_TEXT = (
    st.text(st.characters(codec="utf-8"), max_size=8)
    | _PLAIN_TEXT
    | st.sampled_from(
        ['"', "\\", 'a "quoted" \\ value', "ünïcødé ✓", "line\nbreak", "\x00\x1f", "</script>", "", " ", "!"]
    )
)
_PLAIN_LABEL = st.sampled_from(["__name__", "job", "instance", "a", "ab", "_x", "é"])
_LABEL = _PLAIN_LABEL | st.sampled_from(["metric", "timestamp", "value", "Zone", "A", 'q"uote'])
_LABELS = st.dictionaries(_LABEL, _TEXT, max_size=5)
_INSTANT = st.sampled_from([1_700_000_000, 1_700_000_000.0, 1_700_000_015, 1_700_000_060.5, 0, 86_400.999]) | (
    st.integers(0, 4_000_000_000_000).map(lambda ms: ms / 1000)
)
_FLOAT_TEXT = st.floats(allow_nan=False, allow_infinity=False).map(repr) | st.integers(-(10**20), 10**20).map(str)
#: Prometheus writes values with strconv 'f' format and NaN/+Inf/-Inf; other spellings float() takes too.
_VALUE = st.sampled_from(["NaN", "+Inf", "-Inf", "Inf", "0", "1", "12", "0.5", "1e+21", "-0"]) | _FLOAT_TEXT
_SAMPLES = st.lists(st.tuples(_INSTANT, _VALUE).map(list), max_size=12)


def _matrix(series: list[tuple[dict[str, str], list[list[Any]]]]) -> dict[str, Any]:
    return {"resultType": "matrix", "result": [{"metric": labels, "values": samples} for labels, samples in series]}


_MATRICES = st.lists(st.tuples(_LABELS, _SAMPLES), max_size=8, unique_by=lambda s: tuple(sorted(s[0].items()))).map(
    _matrix
)
_VECTORS = st.lists(
    st.tuples(_LABELS, st.tuples(_INSTANT, _VALUE).map(list)),
    max_size=6,
    unique_by=lambda s: tuple(sorted(s[0].items())),
).map(lambda series: {"resultType": "vector", "result": [{"metric": m, "value": v} for m, v in series]})
_SCALARS = st.tuples(_INSTANT, _VALUE).map(lambda sample: {"resultType": "scalar", "result": list(sample)})
_RESULTS = _MATRICES | _VECTORS | _SCALARS


def _answer(rows: tuple[Any, ...] | json_rows.JsonRows, *, count: int | None = None) -> bytes:
    result = interface.QueryResult(rows, "samples", count=count)
    return answer_json.encode(result.to_odata(context="https://runtime/odata/$metadata#samples"))


@settings(max_examples=300, deadline=None)
@given(_RESULTS)
def test_the_written_answer_is_the_dict_paths_answer_byte_for_byte(data: dict[str, Any]) -> None:
    expected = tuple(convert.rows(data))
    written = convert.json_rows(data)
    assert len(written) == len(expected)
    assert _answer(written, count=len(written)) == _answer(expected, count=len(expected))


@settings(max_examples=200, deadline=None)
@given(_RESULTS, st.integers(0, 40), st.integers(0, 40))
def test_pages_and_rows_read_back_as_the_dict_paths(data: dict[str, Any], skip: int, top: int) -> None:
    expected = tuple(convert.rows(data))
    written = convert.json_rows(data)
    page = written[skip : skip + top]
    assert isinstance(page, json_rows.JsonRows)  # a slice stays text: paging decodes nothing
    assert len(page) == len(expected[skip : skip + top])
    assert _answer(page) == _answer(expected[skip : skip + top])
    assert [written[i] for i in range(-len(written), len(written))] == [*_decoded(expected), *_decoded(expected)]
    assert list(written[skip::3]) == _decoded(expected[skip::3])
    assert written == _decoded(expected)  # iterating decodes every row once


def _decoded(rows: tuple[Any, ...]) -> list[dict[str, Any]]:
    """Rows as JSON gives them back: every non-finite value spelled (Prometheus' own spellings are
    already strings on the dict path; `inf`-like ones are floats the encoder spells)."""
    return [
        {
            key: answer_json.SPECIALS[repr(value)] if isinstance(value, float) and not math.isfinite(value) else value
            for key, value in row.items()
        }
        for row in rows
    ]


def test_prometheus_spellings_decode_to_the_dict_paths_rows_exactly() -> None:
    data = _matrix(
        [
            ({"__name__": "up", "job": 'a"b', "metric": "shadowed", "value": "x"}, [[1, "NaN"], [2, "+Inf"]]),
            ({"job": "ü"}, [[1.5, "-Inf"], [2, "7"], [3, "0.25"]]),
            ({"job": "empty"}, []),
        ]
    )
    rows = convert.rows(data)
    assert rows[0] == {"metric": None, "job": "ü", "timestamp": "1970-01-01T00:00:01.500Z", "value": "-INF"}
    assert rows[2] == {"metric": None, "job": "ü", "timestamp": "1970-01-01T00:00:03.000Z", "value": 0.25}
    assert convert.json_rows(data).rows() == tuple(rows)
    assert b'"value":"NaN"' in _answer(convert.json_rows(data))


def test_rows_changed_in_place_after_reading_are_what_is_answered() -> None:
    """A postprocess hook may change the rows it iterates: the decoded rows are then the truth."""
    written = convert.json_rows(_matrix([({"job": "a"}, [[1, "1"], [2, "2"]])]))
    for row in written:
        row["value"] = row["value"] * 10  # type: ignore[index]
    assert written.fragment() is None
    assert [row["value"] for row in orjson.loads(_answer(written))["value"]] == [10.0, 20.0]


def test_a_cursor_keeps_and_pages_rows_held_as_text() -> None:
    written = convert.json_rows(_matrix([({"job": str(i)}, [[t, str(t)] for t in range(5)]) for i in range(4)]))
    store = cursors.CursorStore(max_entries=4, max_bytes=1 << 20, ttl_seconds=60)
    owner = ("plugin", "fingerprint", "query", "digest", None, None, ())
    cursor = store.put(owner, 7, interface.QueryResult(written[7:], "samples"))
    assert cursor is not None
    page = store.page(cursor, owner, 10, 5)
    assert page is not None and isinstance(page.rows, json_rows.JsonRows)
    assert (
        list(page.rows)
        == list(convert.rows(_matrix([({"job": str(i)}, [[t, str(t)] for t in range(5)]) for i in range(4)])))[10:15]
    )
    assert page.has_more


@pytest.mark.parametrize(
    "data",
    [
        _matrix([({"job": "a"}, [[1, "1", "extra"]])]),
        _matrix([({"job": "a"}, [[1, "1"], [2]])]),
        _matrix([({"job": "a"}, [[1, "not a number"]])]),
        _matrix([({"job": "a"}, [["soon", "1"]])]),
        {"resultType": "matrix", "result": [{"values": [[1, "1"]]}]},
        {"resultType": "streams", "result": []},
    ],
)
def test_an_unexpected_shape_is_a_backend_error_on_both_paths(data: dict[str, Any]) -> None:
    with pytest.raises(errors.BackendError):
        convert.rows(data)
    with pytest.raises(errors.BackendError):
        convert.json_rows(data)


def _plain_series(with_name: bool) -> st.SearchStrategy[list[dict[str, str]]]:
    """Label sets as Prometheus writes them (every value a plain text), all named or none."""
    names = st.just({"__name__": "up"}) | st.dictionaries(st.just("__name__"), _PLAIN_TEXT, min_size=1)
    labels = st.dictionaries(_PLAIN_LABEL.filter(lambda label: label != "__name__"), _PLAIN_TEXT, max_size=4)
    one = st.tuples(names, labels).map(lambda pair: {**pair[0], **pair[1]}) if with_name else labels
    return st.lists(one, max_size=10, unique_by=lambda labels: tuple(sorted(labels.items())))


@settings(max_examples=300, deadline=None)
@given(st.booleans().flatmap(_plain_series))
def test_plain_labels_are_ordered_and_opened_from_their_json_as_the_dict_path_does(
    labels: list[dict[str, str]],
) -> None:
    """The JSON-text shortcut (`_json_layout`) is taken for such labels, and agrees with the dict path
    on the series' order (bytes against tuples of pairs) and on each row's opening."""
    layout = convert._json_layout(labels)
    assert layout is not None
    items, order = convert._label_order(labels)
    assert layout[0] == order
    assert layout[1] == [orjson.dumps(shared)[:-1] for shared in convert._shared(items)]


@pytest.mark.parametrize(
    "labels",
    [
        [{"job": "a b"}, {"job": "a"}],  # ' ' sorts below the '"' that ends "a"
        [{"job": "a!"}, {"job": "a"}],
        [{"job": 'a"'}, {"job": "a"}],  # escaped: a backslash
        [{"job": "a\n"}, {"job": "a"}],
        [{"job": 1}],  # not a string (and series with such labels cannot be ordered)
        [{"job": ["a", "b"], "x": 1}],
        [{"job": {"a": "b"}}],
        [{"__name__": "up", "Zone": "a"}],  # the name is not the first label
        [{"__name__": "up"}, {"job": "a"}],  # named and unnamed
        [{"__name__": "up", "value": "shadowed"}],
    ],
)
def test_labels_the_json_shortcut_could_misorder_or_misopen_are_left_to_the_dict_path(
    labels: list[dict[str, Any]],
) -> None:
    assert convert._json_layout(labels) is None
    data = _matrix([(item, [[1, "1"]]) for item in labels])
    assert _answer(convert.json_rows(data)) == _answer(tuple(convert.rows(data)))


def test_rows_of_a_grid_and_off_it_keep_each_samples_own_instant() -> None:
    """Series on one grid share its texts; a series off it (or shorter) is written instant by instant."""
    grid = [[1_700_000_000 + 60 * step, str(step)] for step in range(3)]
    for shifted in ([[at + 1, value] for at, value in grid], grid[:2], grid):
        data = _matrix([({"job": "a"}, grid), ({"job": "b"}, shifted)])
        assert _answer(convert.json_rows(data)) == _answer(tuple(convert.rows(data)))


def test_columns_must_hold_one_piece_per_row() -> None:
    with pytest.raises(ValueError, match="one piece per row"):
        json_rows.JsonRows([b'{"a":1'], [2], [b"}", b"}"], [b"}"])
    with pytest.raises(ValueError, match="one length per opening"):
        json_rows.JsonRows([b'{"a":1'], [1, 1], [b"}", b"}"])


@pytest.mark.parametrize("lengths", [[2, 2, 2], [1, 3, 2], [3]])
def test_rows_are_their_opening_then_their_pieces_in_order(lengths: list[int]) -> None:
    openings = [b'{"s":%d' % segment for segment in range(len(lengths))]
    count = sum(lengths)
    rows = json_rows.JsonRows(openings, lengths, [b',"r":%d' % row for row in range(count)], [b"}"] * count)
    segments = [segment for segment, length in enumerate(lengths) for _ in range(length)]
    assert orjson.loads(rows.text()) == [{"s": segment, "r": row} for row, segment in enumerate(segments)]
    assert rows[1:-1].rows() == tuple({"s": segment, "r": row} for row, segment in enumerate(segments))[1:-1]
