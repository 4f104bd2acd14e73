"""Whether the document `translate` builds is valid against the schema, without graphql-core's visitor.

graphql-core's `validate` walks the document once per rule set (32 rules) and costs about 1 ms for
our one-field documents: most of a cold translation. The document's shape is fixed,

    query ODataQuery($v0: T0, …) { field(arg: $v0, …) { items { leaf … } total } }

(or `{ field(…) { leaf … } }` without `items`), so most rules hold by construction: one named
operation, no fragments or directives, variables named v0…vn each defined once and used once, each
variable's type printed from its argument's own type (known, an input type, allowed in its
position), names taken from the schema. What is left to fail is checked here: the fields exist and
are leaves or objects as the document selects them, no argument is given twice, every required
argument is given (of the field, and none is left required on `items`, `total` and the leaves),
and the selection is non-empty with no field twice. Anything outside that is left to
graphql-core's full `validate` (the caller's fallback), so a `False` here costs time, never
correctness; tests/adapters/test_graphql_fit.py checks that every document this accepts passes
the full `validate`.
"""

from __future__ import annotations

from collections.abc import Sequence

from graphql import GraphQLField, GraphQLObjectType, GraphQLSchema, get_named_type, is_leaf_type, is_required_argument

from adapters.graphql.fields import FieldSpec, item_type, root_field

__all__ = ["fits"]


def _no_required_arguments(field: GraphQLField) -> bool:
    return not any(is_required_argument(arg) for arg in field.args.values())


def _leaf(container: GraphQLObjectType, name: str) -> bool:
    field = container.fields.get(name)
    return field is not None and is_leaf_type(get_named_type(field.type)) and _no_required_arguments(field)


def fits(schema: GraphQLSchema, spec: FieldSpec, arguments: Sequence[str], fetched: Sequence[str]) -> bool:
    """True when the document calling `spec.field` with `arguments` (names, each bound to a variable
    of its own type) and selecting `fetched` is valid against `schema` (see the module doc)."""
    field = root_field(schema, spec)
    if len(set(arguments)) != len(arguments) or not set(arguments) <= field.args.keys():
        return False
    if any(is_required_argument(arg) and name not in arguments for name, arg in field.args.items()):
        return False
    if not fetched or len(set(fetched)) != len(fetched):
        return False
    if spec.items:
        container = get_named_type(field.type)
        if not isinstance(container, GraphQLObjectType):
            return False
        items = container.fields.get(spec.items)
        if items is None or not _no_required_arguments(items):
            return False
        if spec.total and not _leaf(container, spec.total):
            return False
    rows = item_type(schema, spec)  # a list of objects (else it raises, as `plan` did already)
    return all(_leaf(rows, name) for name in fetched)
