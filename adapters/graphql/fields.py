"""The Query field a GraphQL query definition reads, and the row type it returns in the backend's schema.

`FieldSpec` is the query's `options`: which field, where its rows and total are, and which of its
arguments take the OData options. The lookups check it against the introspected schema; a schema
that does not fit is the backend's fault (502), never the caller's.
"""

from __future__ import annotations

import dataclasses

from graphql import (
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    get_named_type,
    get_nullable_type,
    is_leaf_type,
    is_list_type,
)

from plugin_runtime import errors

__all__ = ["FieldSpec", "item_type", "leaf_fields", "root_field"]


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    """How a query definition maps OData onto one Query field (the query's `options`)."""

    field: str
    items: str | None = None
    total: str | None = None
    select: tuple[str, ...] = ()
    filter_input: str | None = None
    filter_arguments: tuple[tuple[str, str], ...] = ()
    orderby_argument: str | None = None
    top_argument: str | None = None
    skip_argument: str | None = None


def root_field(schema: GraphQLSchema, spec: FieldSpec) -> GraphQLField:
    query_type = schema.query_type
    if query_type is None or spec.field not in query_type.fields:
        raise errors.BackendError(f"the GraphQL schema has no Query field {spec.field!r}", backend="GraphQL API")
    field: GraphQLField = query_type.fields[spec.field]
    return field


def item_type(schema: GraphQLSchema, spec: FieldSpec) -> GraphQLObjectType:
    """The object type of one row: the field's list items, or those of its `items` member."""
    field_type = root_field(schema, spec).type
    if spec.items:
        container = get_named_type(field_type)
        if not isinstance(container, GraphQLObjectType) or spec.items not in container.fields:
            raise errors.BackendError(f"{spec.field} has no list member {spec.items!r}", backend="GraphQL API")
        field_type = container.fields[spec.items].type
    named = get_named_type(field_type)
    if not is_list_type(get_nullable_type(field_type)) or not isinstance(named, GraphQLObjectType):
        raise errors.BackendError(f"{spec.field} does not return a list of objects", backend="GraphQL API")
    return named


def leaf_fields(schema: GraphQLSchema, spec: FieldSpec) -> dict[str, GraphQLField]:
    """The row's properties: the item type's scalar and enum fields."""
    return {name: f for name, f in item_type(schema, spec).fields.items() if is_leaf_type(get_named_type(f.type))}
