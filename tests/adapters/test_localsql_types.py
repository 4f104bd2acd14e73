"""localsql's `$filter` keeps OData's operand types: a string against a number, boolean or date-time
property, or a string function over one, is the caller's error (400) — not a comparison SQLite
would coerce and PostgreSQL refuse, nor an operator SQLAlchemy deprecates for the column's type."""

from __future__ import annotations

import warnings

import pytest
import sqlalchemy as sa

from adapters.localsql import dataset, translate
from plugin_runtime import errors, odata

TABLE = dataset.table(
    "t",
    {"s": dataset.ColumnType.STRING, "n": dataset.ColumnType.INTEGER, "x": dataset.ColumnType.NUMBER}
    | {"b": dataset.ColumnType.BOOLEAN, "d": dataset.ColumnType.DATETIME},
    key=("n",),
)


def _plan(text: str) -> translate.Plan:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a deprecation SQLAlchemy raises for the column's type fails here
        return translate.plan(TABLE, odata.parse_params({"$filter": text}), page_size=10)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x eq '1.5'", "a string is compared with an Edm.Double"),
        ("'1' lt n", "a string is compared with an Edm.Int64"),
        ("n in (1, '2')", "a string is compared with an Edm.Int64"),
        ("b eq 'true'", "a string is compared with an Edm.Boolean"),
        ("d gt '2024-01-01'", "a string is compared with an Edm.DateTimeOffset"),
        ("contains(x, '5')", "contains() takes a string, not an Edm.Double"),
        ("startswith(n, '5')", "startswith() takes a string, not an Edm.Int64"),
        ("endswith(n, '5')", "endswith() takes a string, not an Edm.Int64"),
        ("tolower(n) eq '5'", "tolower() takes a string, not an Edm.Int64"),
        ("length(d) eq 3", "length() takes a string, not an Edm.DateTimeOffset"),
        ("contains(n add 1, '2')", "contains() takes a string, not an Edm.Int64"),
    ],
)
def test_a_string_against_another_type_is_a_400(text: str, message: str) -> None:
    with pytest.raises(errors.InvalidQuery) as refused:
        _plan(text)
    assert refused.value.status == 400
    assert message in refused.value.detail


@pytest.mark.parametrize(
    "text",
    [
        "x eq 1.5",
        "n in (1, 2)",
        "b eq true",
        "d gt 2024-01-01T00:00:00Z",
        "s eq '5'",
        "contains(s, '5')",
        "startswith(tolower(s), 'a')",
        "length(s) eq 3",
    ],
)
def test_well_typed_filters_still_translate_without_warnings(text: str) -> None:
    plan = _plan(text)
    engine = sa.create_engine("sqlite://")
    TABLE.metadata.create_all(engine)
    with engine.connect() as connection:
        assert connection.execute(plan.page).all() == []
