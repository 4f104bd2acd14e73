"""Prometheus rows format each instant once per answer; every row must still carry its own sample's time."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from adapters.prometheus import convert

# Whole seconds, half seconds and milliseconds on one grid: equal instants written as int or float.
_INSTANTS = st.sampled_from([1_700_000_000, 1_700_000_000.0, 1_700_000_060.5, 1_700_000_120.001, 0, 86_400.999])
_SERIES = st.lists(
    st.tuples(st.sampled_from(["api", "web", "db"]), st.lists(st.tuples(_INSTANTS, st.integers(0, 9)), max_size=6)),
    max_size=4,
    unique_by=lambda series: series[0],
)


@given(_SERIES)
def test_each_row_has_the_time_and_value_of_its_own_sample(series: list[tuple[str, list[tuple[float, int]]]]) -> None:
    data = {
        "resultType": "matrix",
        "result": [
            {"metric": {"__name__": "up", "job": job}, "values": [[at, str(value)] for at, value in samples]}
            for job, samples in series
        ],
    }
    expected = [
        {"metric": "up", "job": job, "timestamp": convert.timestamp(at), "value": float(value)}
        for job, samples in sorted(series)
        for at, value in samples
    ]
    assert convert.rows(data) == expected


def test_equal_instants_written_differently_give_one_text() -> None:
    data = {
        "resultType": "matrix",
        "result": [
            {"metric": {"job": "a"}, "values": [[1_700_000_000, "1"]]},
            {"metric": {"job": "b"}, "values": [[1_700_000_000.0, "2"], [1_700_000_000.5, "3"]]},
        ],
    }
    assert [row["timestamp"] for row in convert.rows(data)] == [
        "2023-11-14T22:13:20.000Z",
        "2023-11-14T22:13:20.000Z",
        "2023-11-14T22:13:20.500Z",
    ]
