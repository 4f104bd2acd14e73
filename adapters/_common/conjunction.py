"""The `p eq v and q eq w` filters of backends that bind filter values to named arguments.

GraphQL arguments and REST URL templates accept only equality conditions joined by `and`: each
adapter walks the chain the same way, in source order, and names the first construct it cannot
bind in its 501 message.
"""

from __future__ import annotations

from collections.abc import Iterator

from odata_query import ast

from adapters._common import literals


def terms(tree: ast._Node | None) -> Iterator[ast._Node]:
    """The conditions of an `and` chain, left to right (the tree itself when it is no `and`)."""
    pending = [tree] if tree is not None else []
    while pending:
        node = pending.pop()
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
            pending += [node.right, node.left]
            continue
        yield node


def construct(node: ast._Node) -> str:
    """The OData word a 501 message names for a condition that is not a bindable `eq`."""
    if isinstance(node, ast.BoolOp):
        return "or"
    if isinstance(node, ast.UnaryOp):
        return "not" if isinstance(node.op, ast.Not) else "-"
    if isinstance(node, ast.Compare):
        return literals.keyword(node.comparator)
    if isinstance(node, ast.Call):
        return str(node.func.name)
    return type(node).__name__
