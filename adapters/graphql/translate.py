"""OData query options → one GraphQL document and its variables, checked against the backend's schema. Pure.

A query definition names one field of the schema's Query type and how OData maps onto its
arguments (see `FieldSpec`). The document is built as text with every value in a variable (no
value is ever spliced into the document), checked against the introspected schema (`fit`: the
rules graphql-core's `validate` could fail on for this shape; anything else goes to the full
`validate`), and the variables are coerced to their declared input types, so a request the
backend would refuse is refused here first:

    $select          the selection (leaf fields of the item type); default: the query's `select`,
                     else every leaf field
    $filter          with `filter_input`: an input object, `{p: {op: v}}` per comparison (op: eq,
                     ne, gt, ge, lt, le, in, contains, startswith, endswith — as the schema's
                     operator input names them), `and`/`or` lists and `not`, where the input type
                     has those fields; with `filter_arguments`: `p eq v` joined by `and`, each to
                     its argument
    $orderby         with `orderby_argument`: `[{p: ASC|DESC}]` (an input with one enum field per
                     property); without it, only when every row is fetched (sorted here)
    $top / $skip     with `top_argument` (and `skip_argument`): paged by the backend, one row more
                     than asked so the runtime knows whether more exist; without: every row is
                     fetched and paged here
    $count           the `total` path of the answer; or the fetched rows when every row is fetched

Anything else is valid OData the backend cannot be asked: 501 naming the construct. A property
the item type lacks is 400.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLSchema,
    Undefined,
    get_named_type,
    get_nullable_type,
    is_list_type,
    is_non_null_type,
    parse,
    validate,
)
from graphql.utilities import validate_input_value
from odata_query import ast

from adapters._common import conjunction, literals
from adapters.graphql import ADAPTER, filter_input, fit, unsupported
from adapters.graphql.fields import FieldSpec, leaf_fields, root_field
from plugin_runtime import errors, odata

__all__ = ["ADAPTER", "FieldSpec", "GraphQLRequest", "clear_validation_cache", "plan"]


@dataclasses.dataclass(frozen=True)
class GraphQLRequest:
    """The document to post and what is left to do with its answer.

    `local` holds the options applied to the rows when every row is fetched (ordering, paging,
    counting); otherwise `size`/`probe`/`drop`/`skip` describe the backend's paging (rows wanted,
    one extra asked, rows to drop first when the schema cannot skip, the request's $skip)."""

    document: str
    variables: Mapping[str, Any]
    spec: FieldSpec
    selection: tuple[str, ...]
    local: odata.ODataParams | None
    size: int | None = None
    probe: bool = False
    drop: int = 0
    skip: int = 0


class _Call:
    """The arguments of the one field call, each bound to a typed variable (values never enter the text)."""

    def __init__(self, spec: FieldSpec, field: GraphQLField) -> None:
        self.spec = spec
        self.field = field
        self.definitions: list[str] = []
        self.values: dict[str, Any] = {}
        self.arguments: list[str] = []

    def argument_type(self, name: str, what: str) -> GraphQLInputType:
        if name not in self.field.args:
            raise errors.BackendError(f"{self.spec.field} has no argument {name!r} ({what})", backend="GraphQL API")
        return self.field.args[name].type

    def bind(self, argument: str, value: Any, *, what: str, option: str) -> None:
        """Pass `value` as `argument`; a value its input type refuses is the caller's error (400)."""
        arg_type = self.argument_type(argument, what)
        problems: list[str] = []

        def on_error(error: GraphQLError, path: Any) -> None:
            problems.append(error.message)

        validate_input_value(value, arg_type, on_error)
        if problems:
            raise errors.InvalidQuery(f"{option}: {problems[0]}", option=option)
        name = f"v{len(self.values)}"
        self.definitions.append(f"${name}: {arg_type}")
        self.values[name] = value
        self.arguments.append(f"{argument}: ${name}")

    def bound(self) -> list[str]:
        """The names of the arguments given, in the document's order."""
        return [text.split(":", 1)[0] for text in self.arguments]

    def require_all(self) -> None:
        """Required arguments left unbound: say which filter the caller must give."""
        bound = set(self.bound())
        missing = [
            name
            for name, arg in self.field.args.items()
            if name not in bound
            and is_non_null_type(arg.type)
            and arg.default is None
            and arg.default_value is Undefined
        ]
        if missing:
            needs = [next((p for p, a in self.spec.filter_arguments if a == name), name) for name in missing]
            raise errors.InvalidQuery(
                f"this query needs {' and '.join(f'{p} eq … in $filter' for p in needs)}", option="$filter"
            )

    def document(self, fetched: list[str]) -> str:
        spec = self.spec
        selection = " ".join(fetched)
        inner = f"{spec.items} {{ {selection} }}" if spec.items else selection
        if spec.items and spec.total:
            inner += f" {spec.total}"
        call = f"{spec.field}({', '.join(self.arguments)})" if self.arguments else spec.field
        header = f"query ODataQuery({', '.join(self.definitions)})" if self.definitions else "query ODataQuery"
        return f"{header} {{ {call} {{ {inner} }} }}"


def _argument_bindings(spec: FieldSpec, tree: ast._Node, source: str | None) -> dict[str, Any]:
    """`p eq v` conditions of an `and` chain → {argument: v}; anything else is 501."""
    allowed = dict(spec.filter_arguments)
    hint = f"this query filters only by {', '.join(allowed)} with eq joined by and" if allowed else "no filter"
    found: dict[str, Any] = {}
    for node in conjunction.terms(tree):
        parts = literals.comparison(node) if isinstance(node, ast.Compare) else None
        if parts is None or not isinstance(parts[1], ast.Eq) or parts[0] not in allowed:
            construct = f"{parts[0]} {literals.keyword(parts[1])}" if parts else conjunction.construct(node)
            raise unsupported(construct, hint, source)
        found[allowed[parts[0]]] = literals.value(parts[2])
    return found


def _order_value(
    arg_type: GraphQLInputType, orderby: tuple[odata.OrderBy, ...], properties: Mapping[str, Any]
) -> list[dict[str, str]] | dict[str, str]:
    is_list = is_list_type(get_nullable_type(arg_type))
    order_input = get_named_type(arg_type)
    if not isinstance(order_input, GraphQLInputObjectType):
        raise errors.BackendError("the orderby argument is not an input object", backend="GraphQL API")
    if not is_list and len(orderby) > 1:
        raise unsupported("$orderby", "this query sorts by one property")
    keys = []
    for order in orderby:
        if order.property not in properties:
            raise errors.InvalidQuery(f"$orderby: unknown property {order.property!r}", option="$orderby")
        field = order_input.fields.get(order.property)
        enum = get_named_type(field.type) if field is not None else None
        if not isinstance(enum, GraphQLEnumType):
            raise unsupported(f"$orderby={order.property}", f"{order_input.name} cannot sort by {order.property}")
        wanted = "desc" if order.descending else "asc"
        value = next((name for name in enum.values if name.lower() == wanted), None)
        if value is None:
            raise unsupported(f"$orderby={order.property}", f"{enum.name} has no {wanted.upper()} value")
        keys.append({order.property: value})
    return keys if is_list else keys[0]


@functools.lru_cache(maxsize=1024)
def _validation_error(schema: GraphQLSchema, document: str) -> str | None:
    """The first problem graphql-core's full validation finds in the document, or None: the fallback
    for documents `fit` cannot vouch for. Values travel as variables, so requests differing only in
    values share one document: each is validated once."""
    problems = validate(schema, parse(document))
    return problems[0].message if problems else None


def clear_validation_cache() -> None:
    _validation_error.cache_clear()


def _filter(call: _Call, params: odata.ODataParams, properties: Mapping[str, Any]) -> None:
    spec, tree = call.spec, params.filter_ast
    if tree is None:
        return
    if spec.filter_input is not None:
        input_type = get_named_type(call.argument_type(spec.filter_input, "filter_input"))
        if not isinstance(input_type, GraphQLInputObjectType):
            raise errors.BackendError(f"{spec.filter_input} is not an input object", backend="GraphQL API")
        value = filter_input.FilterInput(input_type, properties, params.filter).visit(tree)
        call.bind(spec.filter_input, value, what="filter_input", option="$filter")
    elif spec.filter_arguments:
        for name, value in _argument_bindings(spec, tree, params.filter).items():
            call.bind(name, value, what="filter_arguments", option="$filter")
    else:
        raise unsupported("$filter", f"the query {spec.field} takes no filter")


def _order(call: _Call, params: odata.ODataParams, properties: Mapping[str, Any], *, fetch_all: bool) -> None:
    spec = call.spec
    for order in params.orderby:
        if order.property not in properties:
            raise errors.InvalidQuery(f"$orderby: unknown property {order.property!r}", option="$orderby")
    if not params.orderby or (fetch_all and spec.orderby_argument is None):
        return  # nothing to sort, or sorted here once every row is fetched
    if spec.orderby_argument is None:
        raise unsupported("$orderby", f"the query {spec.field} pages but cannot sort")
    order_type = call.argument_type(spec.orderby_argument, "orderby_argument")
    ordering = _order_value(order_type, params.orderby, properties)
    call.bind(spec.orderby_argument, ordering, what="orderby_argument", option="$orderby")


def _page(call: _Call, params: odata.ODataParams, top_argument: str) -> tuple[int | None, bool, int]:
    """Bind the paging arguments: (rows wanted, one more asked, rows to drop first)."""
    spec = call.spec
    if params.count and spec.total is None:
        raise unsupported("$count", f"the query {spec.field} pages but reports no total")
    if params.top is None:
        if params.skip:
            if spec.skip_argument is None:
                raise unsupported("$skip", f"the query {spec.field} cannot skip without $top")
            call.bind(spec.skip_argument, params.skip, what="skip_argument", option="$skip")
        return None, False, 0
    probe = spec.total is None
    drop = 0
    if spec.skip_argument is None:
        drop = params.skip  # fetched from the start, dropped here
    elif params.skip:
        call.bind(spec.skip_argument, params.skip, what="skip_argument", option="$skip")
    call.bind(top_argument, drop + params.top + (1 if probe else 0), what="top_argument", option="$top")
    return params.top, probe, drop


def plan(schema: GraphQLSchema, spec: FieldSpec, params: odata.ODataParams) -> GraphQLRequest:
    """The GraphQL request answering `params` (see the module doc)."""
    call = _Call(spec, root_field(schema, spec))
    properties = leaf_fields(schema, spec)
    if not properties:  # graphql-core 3.3 accepts the empty selection `{ }`; the GraphQL spec does not
        raise errors.BackendError(f"the rows of {spec.field} have no scalar or enum fields", backend="GraphQL API")
    wanted = [name for name in params.select if name != "*"] or list(spec.select) or list(properties)
    for name in wanted:
        if name not in properties:
            raise errors.InvalidQuery(f"$select: unknown property {name!r}", option="$select")
    fetch_all = spec.top_argument is None
    _filter(call, params, properties)
    _order(call, params, properties, fetch_all=fetch_all)
    size, probe, drop = (None, False, 0) if spec.top_argument is None else _page(call, params, spec.top_argument)
    call.require_all()
    # Sorting here needs the sort keys in the rows; the local $select drops them again.
    sort_keys = [order.property for order in params.orderby] if fetch_all else []
    fetched = list(dict.fromkeys([*wanted, *sort_keys]))
    document = call.document(fetched)
    problem = None if fit.fits(schema, spec, call.bound(), fetched) else _validation_error(schema, document)
    if problem is not None:
        raise errors.BackendError(
            f"the query definition does not fit the GraphQL schema: {problem}", backend="GraphQL API"
        )
    local = dataclasses.replace(params, filter=None, filter_ast=None, select=tuple(wanted)) if fetch_all else None
    return GraphQLRequest(
        document=document,
        variables=call.values,
        spec=spec,
        selection=tuple(wanted),
        local=local,
        size=size,
        probe=probe,
        drop=drop,
        skip=params.skip,
    )
