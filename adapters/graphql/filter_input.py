"""$filter → one value of the backend's filter input type: `{p: {op: v}}`, `and`/`or` lists, `not`.

The operators are the fields of each property's operator input (eq, ne, gt, ge, lt, le, in,
contains, startswith, endswith, as the schema names them), and the combinators exist only where
the input type has `and`, `or` and `not` fields; anything else is valid OData this backend cannot
be asked (501 naming the construct). A property the item type lacks is the caller's error (400).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import GraphQLInputObjectType, get_named_type
from odata_query import ast

from adapters._common import literals
from adapters.graphql import unsupported
from plugin_runtime import errors

STRING_FUNCTIONS = ("contains", "startswith", "endswith")


class FilterInput:
    """$filter → a value of the filter input type (see the module doc)."""

    def __init__(self, input_type: GraphQLInputObjectType, properties: Mapping[str, Any], source: str | None) -> None:
        self.input_type = input_type
        self.properties = properties
        self.source = source

    def _combinator(self, name: str) -> bool:
        return name in self.input_type.fields

    def visit(self, node: ast._Node) -> dict[str, Any]:
        if isinstance(node, ast.BoolOp):
            left, right = self.visit(node.left), self.visit(node.right)
            word = "and" if isinstance(node.op, ast.And) else "or"
            if self._combinator(word):
                # a and (b and c) → {and: [a, b, c]}: one list per run of the same combinator
                return {word: [*_flat(left, word), *_flat(right, word)]}
            if word == "and" and not set(left) & set(right):
                return {**left, **right}  # fields of one input object are all required to match
            raise unsupported(word, f"the filter input {self.input_type.name} has no '{word}' field", self.source)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            if not self._combinator("not"):
                raise unsupported("not", f"the filter input {self.input_type.name} has no 'not' field", self.source)
            return {"not": self.visit(node.operand)}
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.Compare):
            is_true = isinstance(node.right, ast.Boolean) and node.right.py_val
            if isinstance(node.left, ast.Call) and is_true and isinstance(node.comparator, ast.Eq):
                return self._call(node.left)  # contains(p,'x') eq true
            parts = literals.comparison(node)
            if parts is None:
                raise unsupported(literals.keyword(node.comparator), "compare a property with a literal", self.source)
            path, operator, literal = parts
            return self._condition(path, literals.keyword(operator), literals.value(literal))
        raise unsupported(type(node).__name__, "only comparisons, string functions, and, or, not", self.source)

    def _call(self, node: ast.Call) -> dict[str, Any]:
        name = node.func.name
        path = literals.property_path(node.args[0]) if len(node.args) == 2 else None
        if name not in STRING_FUNCTIONS or path is None or not isinstance(node.args[1], ast.String):
            raise unsupported(
                name, f"supported functions: {', '.join(STRING_FUNCTIONS)}(property, 'text')", self.source
            )
        return self._condition(path, name, node.args[1].val)

    def _condition(self, path: str, operator: str, value: Any) -> dict[str, Any]:
        if path not in self.properties:
            raise errors.InvalidQuery(f"$filter: unknown property {path!r}", option="$filter")
        field = self.input_type.fields.get(path)
        if field is None:
            raise unsupported(path, f"the filter input {self.input_type.name} cannot filter on {path}", self.source)
        operators = get_named_type(field.type)
        if not isinstance(operators, GraphQLInputObjectType) or operator not in operators.fields:
            raise unsupported(f"{path} {operator}", f"{path} can be filtered with {_names(operators)}", self.source)
        return {path: {operator: value}}


def _flat(part: dict[str, Any], word: str) -> list[dict[str, Any]]:
    return list(part[word]) if set(part) == {word} else [part]


def _names(operators: Any) -> str:
    return ", ".join(operators.fields) if isinstance(operators, GraphQLInputObjectType) else "nothing"
