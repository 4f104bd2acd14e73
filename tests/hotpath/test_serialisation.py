"""Query answers are written by a fast JSON path; they must be byte for byte what FastAPI's encoder wrote."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
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
def test_answer_bytes_and_headers_are_those_of_the_fastapi_encoder(body: dict[str, Any]) -> None:
    expected = JSONResponse(jsonable_encoder(body), media_type=server.ODATA_JSON, headers={"OData-Version": "4.0"})
    answered = server._odata_response(body)
    assert answered.body == expected.body
    assert answered.status_code == expected.status_code
    assert answered.raw_headers == expected.raw_headers


@pytest.mark.parametrize("special", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_still_fail_like_before(special: float) -> None:
    body = {"value": [{"value": special}]}
    with pytest.raises(ValueError):
        JSONResponse(jsonable_encoder(body))
    with pytest.raises(ValueError):
        server._odata_response(body)


def test_unencodable_values_still_fail_like_before() -> None:
    body = {"value": [{"thing": object()}]}
    with pytest.raises(ValueError):
        jsonable_encoder(body)
    with pytest.raises(ValueError):
        server._odata_response(body)
