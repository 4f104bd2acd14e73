"""The local table's shape: column types, their Edm names, and values converted in and out. Pure.

Date-times are stored as naive UTC (SQLite has no time zones; PostgreSQL `timestamp` neither) and
returned as ISO 8601 with `Z`, so filters, sorting and results agree on every backend.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import enum
import io
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from plugin_runtime import errors

__all__ = ["SAMPLE_COLUMNS", "SAMPLE_KEY", "ColumnType", "edm_type", "from_storage", "parse_csv", "table", "to_storage"]


class ColumnType(enum.StrEnum):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATETIME = "datetime"
    DATE = "date"


_SQL_TYPES: dict[ColumnType, type[sa.types.TypeEngine[Any]]] = {
    ColumnType.STRING: sa.String,
    ColumnType.INTEGER: sa.BigInteger,
    ColumnType.NUMBER: sa.Float,
    ColumnType.BOOLEAN: sa.Boolean,
    ColumnType.DATETIME: sa.DateTime,
    ColumnType.DATE: sa.Date,
}
# Checked in order: bool before int (bool is an int), datetime before date (datetime is a date).
_PYTHON_EDM: tuple[tuple[type, str], ...] = (
    (bool, "Edm.Boolean"),
    (int, "Edm.Int64"),
    (float, "Edm.Double"),
    (decimal.Decimal, "Edm.Decimal"),
    (dt.datetime, "Edm.DateTimeOffset"),
    (dt.date, "Edm.Date"),
)

#: The bundled sample (`sample_data.csv`): server metrics of six hosts every two hours over two days.
SAMPLE_COLUMNS: dict[str, ColumnType] = {
    "id": ColumnType.INTEGER,
    "host": ColumnType.STRING,
    "region": ColumnType.STRING,
    "environment": ColumnType.STRING,
    "cpu_usage": ColumnType.NUMBER,
    "memory_mb": ColumnType.INTEGER,
    "timestamp": ColumnType.DATETIME,
}
SAMPLE_KEY = ("id",)


def table(name: str, columns: Mapping[str, ColumnType], *, key: tuple[str, ...] = ()) -> sa.Table:
    unknown = [k for k in key if k not in columns]
    if unknown:
        raise errors.InvalidInput(f"settings.key names unknown columns: {', '.join(unknown)}")
    return sa.Table(
        name,
        sa.MetaData(),
        *(sa.Column(column, _SQL_TYPES[kind](), primary_key=column in key) for column, kind in columns.items()),
    )


def edm_type(column: sa.ColumnElement[Any]) -> str:
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return "Edm.String"
    return next((edm for kind, edm in _PYTHON_EDM if issubclass(python_type, kind)), "Edm.String")


def _utc_naive(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else moment


def to_storage(kind: ColumnType, value: Any) -> Any:
    """A seed value (JSON/YAML/CSV text) as the column stores it; raises InvalidInput when it does not fit."""
    if value is None or value == "":
        return None
    try:
        if kind is ColumnType.INTEGER:
            return int(value)
        if kind is ColumnType.NUMBER:
            return float(value)
        if kind is ColumnType.BOOLEAN:
            if isinstance(value, bool):
                return value
            return {"true": True, "false": False}[str(value).strip().lower()]
        if kind is ColumnType.DATETIME:
            moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
            return _utc_naive(moment)
        if kind is ColumnType.DATE:
            return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
        return str(value)
    except (ValueError, KeyError, TypeError):
        raise errors.InvalidInput(f"seed value {value!r} is not a valid {kind}") from None


def from_storage(value: Any) -> Any:
    """A stored value as it goes out in OData JSON."""
    if isinstance(value, dt.datetime):
        return _utc_naive(value).isoformat() + "Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def parse_csv(text: str, columns: Mapping[str, ColumnType]) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or set(reader.fieldnames) != set(columns):
        raise errors.InvalidInput(f"sample data columns {reader.fieldnames} do not match {sorted(columns)}")
    return [{name: to_storage(columns[name], raw) for name, raw in row.items()} for row in reader]
