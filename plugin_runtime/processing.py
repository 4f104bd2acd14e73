"""Declarative pre/post-processing of one query: rewrite the caller's OData options, then the rows.

A Plugin declares a small list of steps (`spec.processing`, and per query `queries[].processing`);
each step is one of

    rename   {cpu: cpu_usage}             the caller's `cpu` is the backend's `cpu_usage`
    drop     [internal_id]                never shown; filtering or sorting on it is refused (400)
    compute  {cpu_pct: "cpu mul 100"}     a new property from an OData arithmetic expression
    convert  {property: mem, from: B, to: MiB}   unit conversion in place (bytes, time, ratio)
    defaults {"$top": "100"}              options the caller did not give
    where    "tenant eq {tenant}"         a filter AND-ed with the caller's ({tenant}: the caller's)

Rows pass the steps in the order written; options pass them in reverse, so every step's names
refer to the rows as the steps before it left them and a `rename` undoes itself on the way in.
Steps map rows one to one (none adds or removes rows), so `$count`, `$top`/`$skip` and
`@odata.nextLink` computed by the adapter stay true after post-processing. A `$select` naming a
computed property asks the backend for its inputs; the rows are projected back to the caller's
`$select` at the end. Filtering or sorting on a computed property, or filtering on a converted one,
cannot be pushed to the backend and is answered 501.

Pure: no I/O; `compile_steps` checks a declaration once (a bad one fails the plugin's load).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from odata_query import ast
from odata_query.rewrite import AliasRewriter
from odata_query.roundtrip import AstToODataVisitor

from plugin_runtime import config, errors, interface, odata

__all__ = ["UNITS", "Pipeline", "StepError", "compile_steps"]

#: Units `convert` knows, by dimension, in the dimension's base unit.
UNITS: Mapping[str, Mapping[str, float]] = {
    "bytes": {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30},
    "time": {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "min": 60, "h": 3600, "d": 86400},
    "ratio": {"ratio": 1, "percent": 0.01},
}
_FUNCTIONS: Mapping[str, Callable[[float], float]] = {"round": round, "floor": math.floor, "ceiling": math.ceil}
_ARITHMETIC: Mapping[type[ast._BinOpToken], Callable[[float, float], float]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Mod: lambda a, b: a % b,
}


class _Writer(AstToODataVisitor):
    """odata-query's writer, with quotes inside strings doubled (its own writes `'it's'`)."""

    def visit_String(self, node: ast.String) -> str:
        return _string_literal(node.val)


def filter_text(node: ast._Node) -> str:
    """A filter AST as OData text that parses back to the same AST (the one way to write one)."""
    return str(_Writer().visit(node))


class StepError(ValueError):
    """A processing declaration that cannot work (bad expression, unknown unit...)."""


def _property_names(node: ast._Node) -> set[str]:
    """Every property path an expression mentions (function names are not properties)."""
    found: set[str] = set()

    def walk(item: Any) -> None:
        if isinstance(item, ast.Call):
            for arg in item.args:
                walk(arg)
            return
        if isinstance(item, (ast.Identifier, ast.Attribute)):
            path = _path(item)
            if path is not None:
                found.add(path)
                return
        if isinstance(item, ast._Node):
            for field in dataclasses.fields(item):
                walk(getattr(item, field.name))
        elif isinstance(item, (list, tuple)):
            for element in item:
                walk(element)

    walk(node)
    return found


def _path(node: ast._Node) -> str | None:
    if isinstance(node, ast.Identifier) and not node.namespace:
        return node.name
    if isinstance(node, ast.Attribute):
        owner = _path(node.owner)
        return None if owner is None else f"{owner}/{node.attr}"
    return None


def _evaluate(node: ast._Node, row: Mapping[str, Any]) -> float | None:
    """An arithmetic expression over one row; None when an input is missing or not a number."""
    if isinstance(node, (ast.Integer, ast.Float)):
        return float(node.py_val)
    path = _path(node)
    if path is not None:
        value: Any = row
        for part in path.split("/"):
            value = value.get(part) if isinstance(value, Mapping) else None
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        operand = _evaluate(node.operand, row)
        return None if operand is None else -operand
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left, row), _evaluate(node.right, row)
        if left is None or right is None:
            return None
        try:
            return _ARITHMETIC[type(node.op)](left, right)
        except ZeroDivisionError:
            return None
    if isinstance(node, ast.Call):
        argument = _evaluate(node.args[0], row)
        return None if argument is None else float(_FUNCTIONS[node.func.name](argument))
    raise StepError(f"{type(node).__name__} is not arithmetic")  # compile_steps rules this out


def _check_arithmetic(node: ast._Node, text: str) -> None:
    if isinstance(node, (ast.Integer, ast.Float)) or _path(node) is not None:
        return
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        _check_arithmetic(node.operand, text)
        return
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        _check_arithmetic(node.left, text)
        _check_arithmetic(node.right, text)
        return
    if isinstance(node, ast.Call) and node.func.name in _FUNCTIONS and len(node.args) == 1:
        _check_arithmetic(node.args[0], text)
        return
    raise StepError(
        f"compute {text!r}: only numbers, properties, add/sub/mul/div/mod and round/floor/ceiling are allowed"
    )


def _parse(text: str, what: str) -> ast._Node:
    try:
        return odata.parse_filter(text)
    except errors.InvalidQuery as exc:
        raise StepError(f"{what} {text!r}: {exc.detail.removeprefix('$filter: ')}") from None


def _string_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclasses.dataclass(frozen=True)
class _Step:
    """One compiled step: how it rewrites options (`pre`) and rows (`post`)."""

    pre: Callable[[_Options, interface.SecurityCtx], _Options]
    post: Callable[[dict[str, Any]], dict[str, Any]] | None = None


@dataclasses.dataclass(frozen=True)
class _Options:
    """The options as the pipeline rewrites them: the parsed params, and the caller's $select."""

    params: odata.ODataParams
    caller_select: tuple[str, ...]


def _with_filter(options: _Options, node: ast._Node | None) -> _Options:
    if node is None:
        return dataclasses.replace(options, params=dataclasses.replace(options.params, filter=None, filter_ast=None))
    text = filter_text(node)
    params = dataclasses.replace(options.params, filter=text, filter_ast=odata.parse_filter(text))
    return dataclasses.replace(options, params=params)


def _filtered_on(options: _Options) -> set[str]:
    node = options.params.filter_ast
    return _property_names(node) if node is not None else set()


def _rename(mapping: Mapping[str, str]) -> _Step:
    backward = {backend: public for public, backend in mapping.items()}

    def pre(options: _Options, _: interface.SecurityCtx) -> _Options:
        params = options.params
        if params.filter_ast is not None and _filtered_on(options) & mapping.keys():
            options = _with_filter(options, AliasRewriter(dict(mapping)).visit(params.filter_ast))
            params = options.params
        params = dataclasses.replace(
            params,
            select=tuple(mapping.get(name, name) for name in params.select),
            orderby=tuple(dataclasses.replace(o, property=mapping.get(o.property, o.property)) for o in params.orderby),
        )
        return dataclasses.replace(options, params=params)

    def post(row: dict[str, Any]) -> dict[str, Any]:
        return {backward.get(key, key): value for key, value in row.items()}

    return _Step(pre, post)


def _refuse(names: Iterable[str], options: _Options, *, error: Callable[[str], errors.PluginError], sort: bool) -> None:
    used = _filtered_on(options) | ({o.property for o in options.params.orderby} if sort else set())
    for name in sorted(set(names) & used):
        raise error(name)


def _drop(names: Sequence[str]) -> _Step:
    hidden = frozenset(names)

    def pre(options: _Options, _: interface.SecurityCtx) -> _Options:
        def not_exposed(name: str) -> errors.PluginError:
            return errors.InvalidQuery(f"property {name!r} is not exposed by this query", property=name)

        _refuse(hidden, options, error=not_exposed, sort=True)
        select = tuple(name for name in options.params.select if name not in hidden)
        if options.params.select and not select:
            raise not_exposed(options.params.select[0])
        return dataclasses.replace(options, params=dataclasses.replace(options.params, select=select))

    def post(row: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in row.items() if key not in hidden}

    return _Step(pre, post)


def _compute(expressions: Mapping[str, str]) -> _Step:
    parsed = {name: _parse(text, "compute") for name, text in expressions.items()}
    for name, node in parsed.items():
        _check_arithmetic(node, expressions[name])
    inputs = {name: sorted(_property_names(node)) for name, node in parsed.items()}

    def pre(options: _Options, _: interface.SecurityCtx) -> _Options:
        def computed(name: str) -> errors.PluginError:
            return errors.NotSupported(
                f"{name!r} is computed after the backend answers: filter and sort on {', '.join(inputs[name])}",
                construct=name,
            )

        _refuse(parsed, options, error=computed, sort=True)
        select: list[str] = []
        for name in options.params.select:
            for needed in inputs.get(name, [name]):
                if needed not in select:
                    select.append(needed)
        return dataclasses.replace(options, params=dataclasses.replace(options.params, select=tuple(select)))

    def post(row: dict[str, Any]) -> dict[str, Any]:
        return row | {name: _evaluate(node, row) for name, node in parsed.items()}

    return _Step(pre, post)


def _convert(spec: Mapping[str, str]) -> _Step:
    if set(spec) != {"property", "from", "to"}:
        raise StepError("convert needs exactly property, from and to")
    name, source, target = spec["property"], spec["from"], spec["to"]
    dimension = next((units for units in UNITS.values() if source in units), None)
    if dimension is None or target not in dimension:
        known = "; ".join(f"{kind}: {', '.join(units)}" for kind, units in UNITS.items())
        raise StepError(f"convert {name}: cannot convert {source!r} to {target!r} (units: {known})")
    factor = dimension[source] / dimension[target]

    def pre(options: _Options, _: interface.SecurityCtx) -> _Options:
        def converted(prop: str) -> errors.PluginError:
            return errors.NotSupported(f"{prop!r} is converted after the backend answers; it cannot be filtered on")

        _refuse([name], options, error=converted, sort=False)
        return options

    def post(row: dict[str, Any]) -> dict[str, Any]:
        value = row.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return row | {name: value * factor}
        return row

    return _Step(pre, post)


def _defaults(values: Mapping[str, str]) -> _Step:
    try:
        odata.parse_params(values)
    except errors.InvalidQuery as exc:
        raise StepError(f"defaults: {exc.detail}") from None

    def pre(options: _Options, _: interface.SecurityCtx) -> _Options:
        given = options.params.to_query()
        missing = {key: value for key, value in values.items() if key not in given}
        if not missing:
            return options
        params = odata.parse_params({**given, **missing})
        caller_select = options.caller_select or (params.select if "$select" in missing else ())
        return _Options(params, caller_select)

    return _Step(pre)


def _where(template: str) -> _Step:
    _parse(template.replace("{tenant}", "'tenant'"), "where")

    def pre(options: _Options, ctx: interface.SecurityCtx) -> _Options:
        text = template
        if "{tenant}" in template:
            if not ctx.tenant:
                raise errors.Forbidden("this query is filtered by tenant: the caller's token names no tenant")
            text = template.replace("{tenant}", _string_literal(ctx.tenant))
        condition = odata.parse_filter(text)
        current = options.params.filter_ast
        combined = condition if current is None else ast.BoolOp(ast.And(), condition, current)
        return _with_filter(options, combined)

    return _Step(pre)


def _step(declared: config.ProcessingStep) -> _Step:
    present = {name: value for name, value in declared.model_dump().items() if value is not None}
    if len(present) != 1:
        raise StepError(f"a processing step has exactly one of {', '.join(config.ProcessingStep.model_fields)}")
    ((kind, value),) = present.items()
    builders: Mapping[str, Callable[[Any], _Step]] = {
        "rename": _rename,
        "drop": _drop,
        "compute": _compute,
        "convert": _convert,
        "defaults": _defaults,
        "where": _where,
    }
    return builders[kind](value)


@dataclasses.dataclass(frozen=True)
class Pipeline:
    """The compiled steps of one query (the plugin's, then the query's own)."""

    steps: tuple[_Step, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.steps)

    def options(self, params: odata.ODataParams, ctx: interface.SecurityCtx) -> tuple[odata.ODataParams, Rows]:
        """The options the plugin receives, and the row rewrite that undoes them for the caller."""
        if not self.steps:
            return params, _unchanged
        options = _Options(params, params.select)
        for step in reversed(self.steps):
            options = step.pre(options, ctx)
        posts = [step.post for step in self.steps if step.post is not None]
        select = options.caller_select if "*" not in options.caller_select else ()

        def rows(result: interface.QueryResult) -> interface.QueryResult:
            shaped = []
            for original in result.rows:
                row = dict(original)
                for post in posts:
                    row = post(row)
                shaped.append({name: row.get(name) for name in select} if select else row)
            return dataclasses.replace(result, rows=tuple(shaped))

        return options.params, rows


Rows = Callable[[interface.QueryResult], interface.QueryResult]


def _unchanged(result: interface.QueryResult) -> interface.QueryResult:
    return result


def compile_steps(steps: Iterable[config.ProcessingStep]) -> Pipeline:
    """Check and compile declared steps; `StepError` says which is wrong."""
    compiled = []
    for number, declared in enumerate(steps, start=1):
        try:
            compiled.append(_step(declared))
        except StepError as exc:
            raise StepError(f"processing step {number}: {exc}") from None
    return Pipeline(tuple(compiled))
