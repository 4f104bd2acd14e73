"""OData query options → SQLAlchemy Core statements over one table. Pure: builds, never executes.

`$filter` goes through odata-query's own SQLAlchemy Core visitor (comparisons, and/or/not, `in`,
arithmetic, string and date-part functions), narrowed to the functions that behave the same on
SQLite and PostgreSQL; anything else is a 501 naming the construct, never an approximation.
Every property named in `$filter`, `$select` or `$orderby` must be a column (else 400).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from typing import Any

import sqlalchemy as sa
from odata_query import ast
from odata_query import exceptions as odata_exceptions

from adapters.localsql import dataset
from plugin_runtime import errors, odata

__all__ = ["ADAPTER", "FILTER_FUNCTIONS", "Plan", "plan"]

ADAPTER = "localsql"
#: Functions that translate to SQL answering alike on SQLite and PostgreSQL.
FILTER_FUNCTIONS = (
    "contains",
    "startswith",
    "endswith",
    "tolower",
    "toupper",
    "length",
    "trim",
    "substring",
    "matchesPattern",
    "year",
    "month",
    "day",
    "hour",
    "minute",
    "second",
    "floor",
    "ceiling",
)
_ALLOWED_CALLS = frozenset(name.lower() for name in FILTER_FUNCTIONS)
#: OData's string functions: their first argument is an Edm.String (URL conventions, 5.1.1.5).
_STRING_CALLS = frozenset(
    {"contains", "startswith", "endswith", "tolower", "toupper", "length", "trim", "substring", "matchespattern"}
)


def _has_string(node: ast._Node) -> bool:
    return isinstance(node, ast.String) or (isinstance(node, ast.List) and any(_has_string(v) for v in node.val))


@functools.cache
def _filter_visitor() -> type[Any]:
    """odata-query's Core visitor with this adapter's conventions, built on the first filtered query:
    importing it imports its package, which imports SQLAlchemy's ORM too (~130 ms, half the plugin's
    cold load) although only Core is used (see bench.cold_load)."""
    from odata_query.sqlalchemy.core import AstToSqlAlchemyCoreVisitor

    class _FilterVisitor(AstToSqlAlchemyCoreVisitor):
        """odata-query's Core visitor, with the narrowing and storage conventions of this adapter."""

        def __init__(self, table: sa.Table, *, source: str) -> None:
            # odata-query annotates its table as `type[Table]` but uses (and documents) a Table instance.
            super().__init__(table)  # type: ignore[arg-type]
            self._columns = table.c
            self.source = source

        def visit_Identifier(self, node: ast.Identifier) -> Any:
            if node.name not in self._columns:
                raise errors.InvalidQuery(
                    f"$filter: unknown property {node.name!r}",
                    option="$filter",
                    position=odata.locate(self.source, node.name),
                )
            return self._columns[node.name]

        def visit_DateTime(self, node: ast.DateTime) -> Any:
            # Stored as naive UTC (see dataset.py): compare like with like.
            moment: dt.datetime = node.py_val
            if moment.tzinfo is not None:
                moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
            return sa.literal(moment, sa.DateTime())

        def visit_Call(self, node: ast.Call) -> Any:
            name = node.func.name.lower()
            if name not in _ALLOWED_CALLS:
                raise odata.unsupported(f"{node.func.name}(", source=self.source, adapter=ADAPTER)
            if name in _STRING_CALLS and node.args and (edm := self._not_string(node.args[0])) is not None:
                raise errors.InvalidQuery(
                    f"$filter: {node.func.name}() takes a string, not an {edm}",
                    option="$filter",
                    position=odata.locate(self.source, f"{node.func.name}("),
                )
            return super().visit_Call(node)

        def _not_string(self, node: ast._Node) -> str | None:
            """The Edm type of a property that is not a string, else None. Only a bare property is
            typed here (visiting a subtree twice would cost 2^depth); expressions the database judges."""
            if not isinstance(node, ast.Identifier) or node.name not in self._columns:
                return None
            column = self._columns[node.name]
            return None if isinstance(column.type, sa.String) else dataset.edm_type(column)

        def visit_Compare(self, node: ast.Compare) -> Any:
            # A quoted string against a number, boolean or date-time: OData's operands are typed, so
            # such a comparison is the caller's error (SQLite would coerce, PostgreSQL refuse).
            for literal, other in ((node.right, node.left), (node.left, node.right)):
                if _has_string(literal) and (edm := self._not_string(other)) is not None:
                    raise errors.InvalidQuery(
                        f"$filter: a string is compared with an {edm}; write the literal without quotes",
                        option="$filter",
                    )
            return super().visit_Compare(node)

        def _substr_function(self, field: ast._Node, substr: ast._Node, func: str) -> Any:
            if not isinstance(substr, ast.String):
                raise errors.InvalidQuery(f"$filter: {func}() needs a string literal to look for", option="$filter")
            target = self.visit(field)
            if not isinstance(target.type, (sa.String, sa.types.NullType)):  # e.g. `contains(a add 1, '2')`
                raise errors.InvalidQuery(f"$filter: {func}() takes a string, not an {dataset.edm_type(target)}")
            # autoescape: a % or _ in the text is looked for literally, not used as a LIKE wildcard.
            return getattr(target, func)(substr.py_val, autoescape=True)

    return _FilterVisitor


def _where(table: sa.Table, params: odata.ODataParams) -> sa.ColumnElement[bool] | None:
    if params.filter_ast is None:
        return None
    source = params.filter or ""
    try:
        clause: sa.ColumnElement[bool] = _filter_visitor()(table, source=source).visit(params.filter_ast)
        return clause
    except NotImplementedError:  # lambdas and navigation: there are no relations in one table
        raise odata.unsupported("/", source=source, adapter=ADAPTER, hint="one table has no navigation") from None
    except odata_exceptions.UnsupportedFunctionException as exc:
        raise odata.unsupported(f"{exc.function_name}(", source=source, adapter=ADAPTER) from None
    except odata_exceptions.ODataException as exc:
        raise errors.InvalidQuery(f"$filter: {exc}", option="$filter") from None
    except (sa.exc.ArgumentError, TypeError, ValueError) as exc:  # e.g. `a gt null`: no SQL for it
        raise errors.InvalidQuery(f"$filter cannot be expressed in SQL: {exc}", option="$filter") from None


def _column(table: sa.Table, name: str, option: str) -> sa.Column[Any]:
    if name not in table.c:
        raise errors.InvalidQuery(f"{option}: unknown property {name!r}", option=option)
    return table.c[name]


@dataclasses.dataclass(frozen=True)
class Plan:
    """The statements one request runs: a page (one row more than asked, to know if more exist)."""

    page: sa.Select[Any]
    count: sa.Select[Any] | None
    limit: int


def plan(table: sa.Table, params: odata.ODataParams, *, page_size: int) -> Plan:
    where = _where(table, params)
    if params.select and "*" not in params.select:
        columns = [_column(table, name, "$select") for name in dict.fromkeys(params.select)]
    else:
        columns = list(table.c)
    ordering = [
        _column(table, o.property, "$orderby").desc() if o.descending else _column(table, o.property, "$orderby").asc()
        for o in params.orderby
    ]
    # The primary key breaks ties, so pages never overlap or skip rows.
    ordering += [column.asc() for column in table.primary_key.columns]
    limit = params.top if params.top is not None else page_size
    page = sa.select(*columns).order_by(*ordering).offset(params.skip).limit(limit + 1)
    count = sa.select(sa.func.count()).select_from(table) if params.count else None
    if where is not None:
        page = page.where(where)
        count = count.where(where) if count is not None else None
    return Plan(page=page, count=count, limit=limit)
