"""OData AST leaves (properties and literals) as plain Python values, for the translators.

Translators compare a property with a literal; which side is which does not matter to OData
(`'api' eq job` means `job eq 'api'`), so `comparison()` puts the property on the left and mirrors
the operator. Date-time literals keep their text: every backend here accepts ISO 8601.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from odata_query import ast

from plugin_runtime import errors

#: OData operator keyword of each comparator, for messages and capability lists.
OPERATOR_KEYWORDS: dict[type[ast._Comparator], str] = {
    ast.Eq: "eq",
    ast.NotEq: "ne",
    ast.Gt: "gt",
    ast.GtE: "ge",
    ast.Lt: "lt",
    ast.LtE: "le",
    ast.In: "in",
}

_MIRRORED: dict[type[ast._Comparator], ast._Comparator] = {
    ast.Gt: ast.Lt(),
    ast.GtE: ast.LtE(),
    ast.Lt: ast.Gt(),
    ast.LtE: ast.GtE(),
}

LITERAL_TYPES = (
    ast.String,
    ast.Integer,
    ast.Float,
    ast.Boolean,
    ast.Null,
    ast.DateTime,
    ast.Date,
    ast.Time,
    ast.GUID,
    ast.Duration,
)


def property_path(node: ast._Node) -> str | None:
    """'a/b' for `a/b`, 'job' for `job`; None when the node is not a property."""
    if isinstance(node, ast.Identifier) and not node.namespace:
        return node.name
    if isinstance(node, ast.Attribute):
        owner = property_path(node.owner)
        return None if owner is None else f"{owner}/{node.attr}"
    return None


def is_literal(node: ast._Node) -> bool:
    return isinstance(node, (*LITERAL_TYPES, ast.List))


def comparison(node: ast.Compare) -> tuple[str, ast._Comparator, ast._Node] | None:
    """(property, operator, literal) with the property on the left; None if it is not that shape."""
    left, right, operator = node.left, node.right, node.comparator
    if property_path(left) is None and property_path(right) is not None and is_literal(left):
        if isinstance(operator, ast.In):
            return None
        left, right = right, left
        operator = _MIRRORED.get(type(operator), operator)
    path = property_path(left)
    if path is None or not is_literal(right):
        return None
    return path, operator, right


def keyword(operator: ast._Comparator) -> str:
    return OPERATOR_KEYWORDS[type(operator)]


def kind(node: ast._Node) -> str:
    """The literal's OData type name, for type-mismatch messages."""
    return {
        ast.String: "a string",
        ast.Integer: "an integer",
        ast.Float: "a number",
        ast.Boolean: "a boolean",
        ast.Null: "null",
        ast.DateTime: "a date-time",
        ast.Date: "a date",
        ast.Time: "a time of day",
        ast.GUID: "a GUID",
        ast.Duration: "a duration",
        ast.List: "a list",
    }.get(type(node), type(node).__name__)


def value(node: ast._Node) -> Any:
    """The JSON-ready value of a literal: numbers as numbers, dates and times as ISO 8601 text."""
    if isinstance(node, (ast.String, ast.DateTime, ast.Date, ast.Time, ast.GUID, ast.Duration)):
        return node.val
    if isinstance(node, (ast.Integer, ast.Float, ast.Boolean, ast.Null)):
        return node.py_val
    if isinstance(node, ast.List):
        return [value(item) for item in node.val]
    raise errors.InvalidQuery(f"$filter: {kind(node)} is not a literal value", option="$filter")


def instant(node: ast._Node, *, property_name: str) -> dt.datetime:
    """A DateTime literal (or a Date, taken as midnight UTC) as an aware UTC datetime."""
    if isinstance(node, ast.DateTime):
        moment = node.py_val
        if moment.tzinfo is None:
            raise errors.InvalidQuery(
                f"$filter: {property_name} needs a time zone in {node.val!r} (e.g. a trailing Z)", option="$filter"
            )
        return moment.astimezone(dt.UTC)
    if isinstance(node, ast.Date):
        return dt.datetime.combine(node.py_val, dt.time(), tzinfo=dt.UTC)
    raise errors.InvalidQuery(
        f"$filter: {property_name} is a date-time; compare it with a date-time literal, not {kind(node)}",
        option="$filter",
    )
