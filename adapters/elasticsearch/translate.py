"""OData query options → an Elasticsearch search request, built with `elasticsearch.dsl`. Pure.

$filter becomes a `bool` query in filter context: and → filter, or → should (one must match),
not → must_not; eq/ne → term (null: exists), gt/ge/lt/le → range, in → terms, startswith →
prefix, endswith and contains → wildcard on exact-value fields, and contains → match (all words)
on `text` fields, which is full-text search rather than substring matching. $orderby → sort with
nulls first ascending and last descending (OData's order); $select → `_source`; $top/$skip →
size/from; $count → track_total_hits.

When the query declares its fields, properties are checked against them (unknown property → 400,
literal of the wrong type → 400); without a declaration every property is an exact-value field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Literal
from urllib.parse import quote

from elasticsearch.dsl import Q, Search
from elasticsearch.dsl import query as es_query
from elasticsearch.dsl.document_base import InstrumentedField
from odata_query import ast
from odata_query.visitor import NodeVisitor

from adapters._common import literals
from plugin_runtime import errors, odata

ADAPTER = "elasticsearch"
#: Elasticsearch's default `index.max_result_window`: from + size may not exceed it.
MAX_RESULT_WINDOW = 10_000
STRING_FUNCTIONS = ("contains", "startswith", "endswith")

FieldType = Literal["keyword", "text", "long", "integer", "short", "byte", "double", "float", "date", "boolean"]
_STRINGS = ("keyword", "text")
_INTEGERS = ("long", "integer", "short", "byte")
_ACCEPTS: dict[str, tuple[type[ast._Node], ...]] = {
    **{name: (ast.String,) for name in _STRINGS},
    **{name: (ast.Integer,) for name in _INTEGERS},
    "double": (ast.Integer, ast.Float),
    "float": (ast.Integer, ast.Float),
    "date": (ast.DateTime, ast.Date),
    "boolean": (ast.Boolean,),
}
_RANGE_KEYS = {ast.Gt: "gt", ast.GtE: "gte", ast.Lt: "lt", ast.LtE: "lte"}


@dataclasses.dataclass(frozen=True)
class IndexSpec:
    """What a query definition fixes: the index (pattern) and, optionally, its field types."""

    index: str
    fields: tuple[tuple[str, FieldType], ...] = ()
    id_property: str = "_id"
    #: property → Elasticsearch field, where they differ (`timestamp` → `@timestamp`, see plugin_runtime.names).
    renamed: tuple[tuple[str, str], ...] = ()

    def field_type(self, path: str) -> FieldType | None:
        return dict(self.fields).get(path)

    def es_field(self, path: str) -> str:
        """The Elasticsearch field a property (path) names: `timestamp` → `@timestamp`, `host/name` → `host.name`."""
        return dict(self.renamed).get(path) or path.replace("/", ".")


@dataclasses.dataclass(frozen=True)
class SearchRequest:
    """The search to send. `size` rows are wanted; `probe` says the body asks for one more, whose
    presence tells that more rows exist (else `track_total_hits` answers that)."""

    endpoint: str
    body: Mapping[str, Any]
    size: int
    skip: int
    probe: bool


def _wildcard(text: str) -> str:
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


def _only(node: Any, *kinds: str) -> bool:
    """Whether `node` is a bool query with exactly these parameters (read without creating others)."""
    return isinstance(node, es_query.Bool) and set(node._params) == set(kinds)


def _clauses(node: Any, kind: str) -> list[Any]:
    """The clauses of a bool query holding only `kind` clauses, to flatten nested and/or."""
    return list(node._params[kind]) if _only(node, kind) else [node]


class _EsFilter(NodeVisitor):
    def __init__(self, spec: IndexSpec, source: str | None) -> None:
        self.spec = spec
        self.source = source

    def _unsupported(self, construct: str, hint: str = "") -> errors.NotSupported:
        return odata.unsupported(construct, source=self.source, adapter=ADAPTER, hint=hint)

    def generic_visit(self, node: ast._Node) -> Any:
        raise self._unsupported(type(node).__name__, "only comparisons of properties with literals")

    def visit_BoolOp(self, node: ast.BoolOp) -> Any:
        left, right = self.visit(node.left), self.visit(node.right)
        if isinstance(node.op, ast.And):
            return Q("bool", filter=_clauses(left, "filter") + _clauses(right, "filter"))
        should = [
            clause
            for side in (left, right)
            for clause in (side._params["should"] if _only(side, "should", "minimum_should_match") else [side])
        ]
        return Q("bool", should=should, minimum_should_match=1)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        if not isinstance(node.op, ast.Not):
            raise self._unsupported("-", "negation applies to numbers, not conditions")
        inner = self.visit(node.operand)
        if _only(inner, "must_not") and len(inner._params["must_not"]) == 1:
            return inner._params["must_not"][0]  # not not x = x
        return Q("bool", must_not=[inner])

    def _field(self, path: str) -> tuple[str, FieldType | None]:
        if path == self.spec.id_property:
            return "_id", "keyword"
        declared = self.spec.field_type(path)
        if self.spec.fields and declared is None:
            raise errors.InvalidQuery(f"$filter: unknown property {path!r}", option="$filter")
        return self.spec.es_field(path), declared

    def _value(self, path: str, declared: FieldType | None, literal: ast._Node) -> Any:
        if not isinstance(literal, ast.Null) and declared is not None and not isinstance(literal, _ACCEPTS[declared]):
            raise errors.InvalidQuery(
                f"$filter: {path} is a {declared} field; it cannot be compared with {literals.kind(literal)}",
                option="$filter",
            )
        return literals.value(literal)

    def visit_Compare(self, node: ast.Compare) -> Any:
        parts = literals.comparison(node)
        if parts is None:
            return self._compared_call(node)
        path, operator, literal = parts
        field, declared = self._field(path)
        if declared == "text":
            raise self._unsupported(
                f"{path} {literals.keyword(operator)}", f"{path} is a full-text field: use contains({path}, '…')"
            )
        if isinstance(operator, ast.In):
            if not isinstance(literal, ast.List):
                raise errors.InvalidQuery(f"$filter: 'in' needs a list after {path}", option="$filter")
            values = [self._value(path, declared, item) for item in literal.val]
            present = [value for value in values if value is not None]
            alternatives = [Q("terms", **{field: present})] if present else []
            if len(present) < len(values):
                alternatives.append(Q("bool", must_not=[Q("exists", field=field)]))
            if len(alternatives) == 1:
                return alternatives[0]
            return Q("bool", should=alternatives, minimum_should_match=1)
        value = self._value(path, declared, literal)
        if isinstance(operator, (ast.Eq, ast.NotEq)):
            matches = (
                Q("term", **{field: value}) if value is not None else Q("bool", must_not=[Q("exists", field=field)])
            )
            if isinstance(operator, ast.Eq):
                return matches
            return Q("exists", field=field) if value is None else Q("bool", must_not=[matches])
        if value is None:
            return Q("match_none")  # OData: an order comparison with null is never true
        return Q("range", **{field: {_RANGE_KEYS[type(operator)]: value}})

    def _compared_call(self, node: ast.Compare) -> Any:
        call, other = (node.left, node.right) if isinstance(node.left, ast.Call) else (node.right, node.left)
        if not isinstance(call, ast.Call):
            raise self._unsupported(literals.keyword(node.comparator), "compare a property with a literal")
        if not isinstance(other, ast.Boolean) or not isinstance(node.comparator, (ast.Eq, ast.NotEq)):
            raise self._unsupported(call.func.name, "only the string functions, used as conditions, are supported")
        matches = self.visit_Call(call)
        return matches if other.py_val == isinstance(node.comparator, ast.Eq) else Q("bool", must_not=[matches])

    def visit_Call(self, node: ast.Call) -> Any:
        name = node.func.name
        if name not in STRING_FUNCTIONS or node.func.namespace:
            raise self._unsupported(name, f"supported functions: {', '.join(STRING_FUNCTIONS)}")
        path = literals.property_path(node.args[0]) if len(node.args) == 2 else None
        if path is None:
            raise self._unsupported(name, "use it as function(property, 'text')")
        field, declared = self._field(path)
        if declared is not None and declared not in _STRINGS:
            raise errors.InvalidQuery(
                f"$filter: {name}() needs a string property; {path} is {declared}", option="$filter"
            )
        if not isinstance(node.args[1], ast.String):
            raise errors.InvalidQuery(f"$filter: {name}() needs a string as its second argument", option="$filter")
        text = node.args[1].val
        if declared == "text":
            if name != "contains":
                raise self._unsupported(name, f"{path} is a full-text field: only contains() (match) applies")
            return Q("match", **{field: {"query": text, "operator": "and"}})
        if name == "startswith":
            return Q("prefix", **{field: text})
        pattern = f"*{_wildcard(text)}" + ("*" if name == "contains" else "")
        return Q("wildcard", **{field: {"value": pattern}})


def _sort(spec: IndexSpec, orderby: Sequence[odata.OrderBy]) -> list[dict[str, Any]]:
    out = []
    for order in orderby:
        if order.property == spec.id_property:
            raise odata.unsupported(
                f"$orderby={order.property}", source=None, adapter=ADAPTER, hint="Elasticsearch does not sort by _id"
            )
        declared = spec.field_type(order.property)
        if spec.fields and declared is None:
            raise errors.InvalidQuery(f"$orderby: unknown property {order.property!r}", option="$orderby")
        if declared == "text":
            raise odata.unsupported(
                f"$orderby={order.property}", source=None, adapter=ADAPTER, hint="full-text fields are not sortable"
            )
        direction = "desc" if order.descending else "asc"
        missing = "_last" if order.descending else "_first"
        out.append({spec.es_field(order.property): {"order": direction, "missing": missing}})
    return out


def _source(spec: IndexSpec, select: Sequence[str]) -> list[str | InstrumentedField] | bool | None:
    if not select or "*" in select:
        return None
    for name in select:
        if spec.fields and name != spec.id_property and spec.field_type(name) is None:
            raise errors.InvalidQuery(f"$select: unknown property {name!r}", option="$select")
    fields: list[str | InstrumentedField] = [spec.es_field(name) for name in select if name != spec.id_property]
    return fields or False


def translate(
    tree: ast._Node | None,
    *,
    spec: IndexSpec,
    source: str | None,
    select: Sequence[str] = (),
    orderby: Sequence[odata.OrderBy] = (),
    top: int | None = None,
    skip: int = 0,
    count: bool = False,
    page_size: int = 1000,
) -> SearchRequest:
    """The search request for these options on the index of `spec`."""
    size = top if top is not None else page_size
    if skip + size > MAX_RESULT_WINDOW:
        raise odata.unsupported(
            "$skip",
            source=None,
            adapter=ADAPTER,
            hint=f"Elasticsearch pages at most {MAX_RESULT_WINDOW} rows deep ($skip + $top); narrow the filter",
        )
    probe = skip + size < MAX_RESULT_WINDOW
    search = Search()
    if tree is not None:
        condition = _EsFilter(spec, source).visit(tree)
        # Filter context throughout: OData has no relevance, and filters are cached by Elasticsearch.
        search = search.query(condition if _only(condition, "filter") else Q("bool", filter=[condition]))
    sort = _sort(spec, orderby)
    if sort:
        search = search.sort(*sort)
    fields = _source(spec, select)
    if fields is not None:
        search = search.source(fields)
    search = search.extra(from_=skip, size=size + 1 if probe else size, track_total_hits=count or not probe)
    endpoint = f"/{quote(spec.index, safe=',*')}/_search"
    return SearchRequest(endpoint=endpoint, body=search.to_dict(), size=size, skip=skip, probe=probe)
