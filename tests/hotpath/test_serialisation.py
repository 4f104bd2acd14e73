"""Query answers are written by a fast JSON path (orjson); they must mean what FastAPI's encoder wrote.

The bytes may differ where JSON allows (`1e308` for `1e+308`); the decoded values and the headers may not.
IEEE 754 specials are the one deliberate change: OData's strings "NaN", "INF", "-INF" instead of a 500.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import json
import math
import uuid
from typing import Any

import pytest
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from plugin_runtime import server


class Colour(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


@dataclasses.dataclass
class Point:
    x: int
    when: dt.date


BODIES: list[dict[str, Any]] = [
    {"@odata.context": "c", "value": []},
    {"@odata.context": "c", "@odata.count": 2, "value": [{"a": 1, "b": "é ✓", "c": None, "d": True, "e": 1.5}]},
    {"value": [{"at": dt.datetime(2024, 5, 1, 12, 30, 1, 250_000, tzinfo=dt.UTC), "day": dt.date(2024, 5, 1)}]},
    {"value": [{"naive": dt.datetime(2024, 5, 1, 12, 30), "time": dt.time(8, 15), "span": dt.timedelta(seconds=90)}]},
    {"value": [{"price": decimal.Decimal("12.50"), "whole": decimal.Decimal("12"), "id": uuid.UUID(int=7)}]},
    {"value": [{"colour": Colour.RED, "level": Level.HIGH, "tags": {"x"}, "pair": (1, 2), "frozen": frozenset()}]},
    {"value": [{"point": Point(1, dt.date(2024, 1, 2)), "nested": {"list": [decimal.Decimal("0.1"), [Colour.RED]]}}]},
    {"value": [{1: "int key", 2.5: "float key", None: "none key"}]},
    {"value": [{Colour.RED: "enum key", dt.date(2024, 1, 1): "date key"}]},
    {"value": [{"big": 2**80, "negative": -(2**70), "huge_float": 1e308}]},
]


@pytest.mark.parametrize("body", BODIES)
def test_answer_values_and_headers_are_those_of_the_fastapi_encoder(body: dict[str, Any]) -> None:
    expected = JSONResponse(jsonable_encoder(body), media_type=server.ODATA_JSON, headers={"OData-Version": "4.0"})
    answered = server._odata_response(body)
    assert json.loads(answered.body) == json.loads(expected.body)
    assert answered.status_code == expected.status_code
    assert answered.raw_headers == expected.raw_headers


def test_plain_rows_are_written_compactly_and_non_ascii_as_itself() -> None:
    body = {"@odata.context": "c", "value": [{"a": 1, "b": "é ✓", "c": None, "d": True, "e": 1.5}]}
    assert (
        server._odata_response(body).body
        == '{"@odata.context":"c","value":[{"a":1,"b":"é ✓","c":null,"d":true,"e":1.5}]}'.encode()
    )


@pytest.mark.parametrize(("special", "spelled"), [(math.nan, "NaN"), (math.inf, "INF"), (-math.inf, "-INF")])
def test_non_finite_floats_are_written_as_odata_strings(special: float, spelled: str) -> None:
    rows = [{"value": special, "other": None}, {"value": 1.0, "nested": {"deep": [special]}}]
    body = {"value": rows}
    assert json.loads(server._odata_response(body).body) == {
        "value": [{"value": spelled, "other": None}, {"value": 1.0, "nested": {"deep": [spelled]}}]
    }
    assert rows[0]["value"] is special  # the rows themselves (perhaps cached) are not rewritten


def test_non_finite_floats_are_spelled_on_the_slow_path_too() -> None:
    body = {"value": [{1: math.nan, "big": 2**80}]}  # a non-string key and a 65-bit integer: the stdlib writes it
    assert json.loads(server._odata_response(body).body) == {"value": [{"1": "NaN", "big": 2**80}]}


def test_a_null_without_specials_stays_null() -> None:
    assert server._odata_response({"value": [{"a": None, "b": 2.5}]}).body == b'{"value":[{"a":null,"b":2.5}]}'


def test_unencodable_values_still_fail_like_before() -> None:
    body = {"value": [{"thing": object()}]}
    with pytest.raises(ValueError):
        jsonable_encoder(body)
    with pytest.raises(ValueError):
        server._odata_response(body)
