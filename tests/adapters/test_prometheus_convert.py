"""Prometheus answers → OData rows."""

from __future__ import annotations

import pytest

from adapters.prometheus import convert
from plugin_runtime import errors


def test_a_matrix_is_one_row_per_sample_in_series_then_time_order() -> None:
    data = {
        "resultType": "matrix",
        "result": [
            {"metric": {"__name__": "up", "job": "web"}, "values": [[1700000000, "1"], [1700000060.5, "0"]]},
            {"metric": {"__name__": "up", "job": "api"}, "values": [[1700000000, "1"]]},
        ],
    }
    assert convert.rows(data) == [
        {"metric": "up", "job": "api", "timestamp": "2023-11-14T22:13:20.000Z", "value": 1.0},
        {"metric": "up", "job": "web", "timestamp": "2023-11-14T22:13:20.000Z", "value": 1.0},
        {"metric": "up", "job": "web", "timestamp": "2023-11-14T22:14:20.500Z", "value": 0.0},
    ]


def test_a_vector_without_names_has_a_null_metric() -> None:
    data = {"resultType": "vector", "result": [{"metric": {"job": "api"}, "value": [1700000000.123, "0.25"]}]}
    assert convert.rows(data) == [
        {"metric": None, "job": "api", "timestamp": "2023-11-14T22:13:20.123Z", "value": 0.25}
    ]


def test_a_scalar_is_one_row() -> None:
    assert convert.rows({"resultType": "scalar", "result": [1700000000, "42"]}) == [
        {"metric": None, "timestamp": "2023-11-14T22:13:20.000Z", "value": 42.0}
    ]


@pytest.mark.parametrize(("text", "value"), [("NaN", "NaN"), ("+Inf", "INF"), ("-Inf", "-INF"), ("1e3", 1000.0)])
def test_special_values_are_written_as_odata_json_writes_them(text: str, value: object) -> None:
    data = {"resultType": "vector", "result": [{"metric": {}, "value": [0, text]}]}
    assert convert.rows(data)[0]["value"] == value


def test_sample_fields_win_over_labels_of_the_same_name() -> None:
    data = {
        "resultType": "vector",
        "result": [{"metric": {"__name__": "x", "value": "label", "metric": "m"}, "value": [0, "2"]}],
    }
    assert convert.rows(data) == [{"metric": "x", "timestamp": "1970-01-01T00:00:00.000Z", "value": 2.0}]


@pytest.mark.parametrize(
    "data",
    [
        {"resultType": "string", "result": [0, "x"]},
        {"resultType": "vector"},
        {"resultType": "matrix", "result": [{"metric": {}, "values": [[0]]}]},
        {"resultType": "vector", "result": [{"metric": {}, "value": [0, "not a number"]}]},
    ],
)
def test_answers_of_another_shape_are_backend_errors(data: dict) -> None:
    with pytest.raises(errors.BackendError):
        convert.rows(data)
