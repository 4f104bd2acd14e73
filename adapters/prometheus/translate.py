"""OData `$filter` → PromQL: pure, cached by the plugin, checked by `promql-parser`.

Rows are samples: a series' labels, `metric` (its name), `timestamp` and `value`. Conditions on
labels and `metric` become label matchers; a label a series does not carry compares as '' (as in
Prometheus). Conditions on `timestamp` choose the HTTP endpoint (a lower and/or upper bound → range
query, `eq` → instant query at that time, none → instant query now) and conditions on `value`
filter the result with PromQL comparison operators, so both must be `and`-ed at the top level.

Any boolean combination of label conditions is translated exactly: the filter is brought into
disjunctive normal form, each conjunction becomes one selector and the alternatives are joined with
PromQL's `or` (which unions series by label set). What PromQL cannot say is rejected through
`odata.unsupported` (501) naming the construct, never approximated.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Literal

import promql_parser
from odata_query import ast
from odata_query.visitor import NodeVisitor

from adapters._common import literals
from adapters.prometheus import model, timerange
from plugin_runtime import errors, odata

#: A filter may expand into at most this many selectors (`or` of conjunctions).
MAX_SELECTORS = 32
STRING_FUNCTIONS = ("contains", "startswith", "endswith")

# Go's regexp.QuoteMeta: the characters RE2 gives a meaning.
_REGEX_META = frozenset("\\.+*?()|[]{}^$")
_NEGATED = {"=": "!=", "!=": "=", "=~": "!~", "!~": "=~"}
_VALUE_OPERATORS: dict[type[ast._Comparator], str] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Lt: "<",
    ast.LtE: "<=",
}

Aggregation = Literal["sum", "avg", "min", "max", "count"]


def quote_meta(text: str) -> str:
    """Escape `text` so an RE2 regex matches it literally (Go's regexp.QuoteMeta)."""
    return "".join("\\" + char if char in _REGEX_META else char for char in text)


def string_literal(text: str) -> str:
    """A PromQL double-quoted string; PromQL strings use Go's escapes, which JSON's are a subset of."""
    return json.dumps(text, ensure_ascii=False)


@dataclasses.dataclass(frozen=True)
class Matcher:
    label: str
    op: str  # "=", "!=", "=~", "!~"
    value: str

    def negated(self) -> Matcher:
        return Matcher(self.label, _NEGATED[self.op], self.value)

    def render(self) -> str:
        return f"{self.label}{self.op}{string_literal(self.value)}"


Conjunction = tuple[Matcher, ...]
#: Disjunctive normal form: the series match if any conjunction matches all its matchers.
Selection = tuple[Conjunction, ...]
_TRUE: Selection = ((),)


@dataclasses.dataclass(frozen=True)
class QuerySpec:
    """What a query definition fixes: a metric, `rate()` over a window, an aggregation."""

    metric: str | None = None
    rate: str | None = None
    aggregate: Aggregation | None = None
    by: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class PromQuery:
    """A translated filter: the PromQL text and when to evaluate it (resolved per request by `call`)."""

    expr: str
    time: timerange.TimeRange


def _cross(left: Selection, right: Selection, *, source: str | None) -> Selection:
    combined = tuple(dict.fromkeys(tuple(dict.fromkeys(a + b)) for a in left for b in right))
    if len(combined) > MAX_SELECTORS:
        raise odata.unsupported(
            "or",
            source=source,
            adapter=model.ADAPTER,
            hint=f"the filter expands to more than {MAX_SELECTORS} selectors",
        )
    return combined


class _LabelFilter(NodeVisitor):
    """Label and metric conditions → `Selection`; everything else is unsupported here."""

    def __init__(self, source: str | None) -> None:
        self.source = source

    def _unsupported(self, construct: str, hint: str = "") -> errors.NotSupported:
        return odata.unsupported(construct, source=self.source, adapter=model.ADAPTER, hint=hint)

    def generic_visit(self, node: ast._Node) -> Selection:
        raise self._unsupported(type(node).__name__, "only conditions on labels, metric, timestamp and value")

    def visit_BoolOp(self, node: ast.BoolOp) -> Selection:
        left, right = self.visit(node.left), self.visit(node.right)
        if isinstance(node.op, ast.And):
            return _cross(left, right, source=self.source)
        merged = _merge_alternatives(left, right)
        if merged is not None:
            return merged
        if len(left) + len(right) > MAX_SELECTORS:
            raise self._unsupported("or", f"the filter expands to more than {MAX_SELECTORS} selectors")
        return tuple(dict.fromkeys(left + right))

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Selection:
        if not isinstance(node.op, ast.Not):
            raise self._unsupported("-", "labels are text")
        # De Morgan: not (C1 or C2 ...) = (not C1) and (not C2) ..., and not C = any matcher negated.
        result = _TRUE
        for conjunction in self.visit(node.operand):
            result = _cross(result, tuple((matcher.negated(),) for matcher in conjunction), source=self.source)
        return result

    def _label(self, path: str) -> str:
        if path in (model.TIMESTAMP, model.VALUE):
            raise self._unsupported(
                path,
                f"conditions on {model.TIMESTAMP} and {model.VALUE} must be joined to the rest"
                " with 'and' at the top level",
            )
        if path == model.METRIC:
            return model.NAME_LABEL
        if "/" in path:
            raise self._unsupported(path, "Prometheus labels are flat (no '/' paths)")
        if not model.LABEL_NAME.match(path) or path.startswith("__"):
            raise errors.InvalidQuery(f"$filter: {path!r} is not a Prometheus label name", option="$filter")
        return path

    def _text(self, path: str, literal: ast._Node) -> str:
        if isinstance(literal, ast.String):
            return literal.val
        if isinstance(literal, ast.Null):
            return ""  # Prometheus: a missing label and an empty one are the same
        raise errors.InvalidQuery(
            f"$filter: {path} is text; compare it with a string, not {literals.kind(literal)}", option="$filter"
        )

    def visit_Compare(self, node: ast.Compare) -> Selection:
        parts = literals.comparison(node)
        if parts is None:
            return self._compared_call(node)
        path, operator, literal = parts
        label = self._label(path)
        if isinstance(operator, (ast.Eq, ast.NotEq)):
            op = "=" if isinstance(operator, ast.Eq) else "!="
            return ((Matcher(label, op, self._text(path, literal)),),)
        if isinstance(operator, ast.In):
            if not isinstance(literal, ast.List):
                raise errors.InvalidQuery(f"$filter: 'in' needs a list after {path}", option="$filter")
            alternatives = "|".join(quote_meta(self._text(path, item)) for item in literal.val)
            return ((Matcher(label, "=~", alternatives),),)
        raise self._unsupported(
            f"{path} {literals.keyword(operator)}",
            "PromQL cannot order label values; use eq, ne, in or a string function",
        )

    def _compared_call(self, node: ast.Compare) -> Selection:
        """`contains(job,'a') eq true` (or `eq false`, `ne true`...) is the function itself, or its negation."""
        call, other = (node.left, node.right) if isinstance(node.left, ast.Call) else (node.right, node.left)
        if not isinstance(call, ast.Call):
            raise self._unsupported(literals.keyword(node.comparator), "compare a property with a literal")
        if not isinstance(other, ast.Boolean) or not isinstance(node.comparator, (ast.Eq, ast.NotEq)):
            raise self._unsupported(call.func.name, "only the string functions, used as conditions, are supported")
        selection = self.visit_Call(call)
        if other.py_val == isinstance(node.comparator, ast.Eq):
            return selection
        ((matcher,),) = selection
        return ((matcher.negated(),),)

    def visit_Call(self, node: ast.Call) -> Selection:
        name = node.func.name
        if name not in STRING_FUNCTIONS or node.func.namespace:
            raise self._unsupported(name, f"supported functions: {', '.join(STRING_FUNCTIONS)}")
        if len(node.args) != 2 or literals.property_path(node.args[0]) is None:
            raise self._unsupported(name, "use it as function(property, 'text')")
        path = literals.property_path(node.args[0])
        assert path is not None
        label = self._label(path)
        if not isinstance(node.args[1], ast.String):
            raise errors.InvalidQuery(f"$filter: {name}() needs a string as its second argument", option="$filter")
        text = quote_meta(node.args[1].val)
        pattern = {"contains": f".*{text}.*", "startswith": f"{text}.*", "endswith": f".*{text}"}[name]
        # (?s:…): '.' must also match newlines, or a value holding one would silently not match.
        return ((Matcher(label, "=~", f"(?s:{pattern})"),),)


def _alternation(matcher: Matcher) -> str:
    return quote_meta(matcher.value) if matcher.op == "=" else matcher.value


def _merge_alternatives(left: Selection, right: Selection) -> Selection | None:
    """`job eq 'a' or job in ('b','c')` as one matcher `job=~"a|b|c"` instead of a union of selectors."""
    if len(left) != 1 or len(right) != 1 or len(left[0]) != 1 or len(right[0]) != 1:
        return None
    a, b = left[0][0], right[0][0]
    if a.label != b.label or a.op not in ("=", "=~") or b.op not in ("=", "=~"):
        return None
    return ((Matcher(a.label, "=~", f"{_alternation(a)}|{_alternation(b)}"),),)


def _conjuncts(node: ast._Node) -> list[ast._Node]:
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
        return _conjuncts(node.left) + _conjuncts(node.right)
    return [node]


def _mentions(node: ast._Node, path: str) -> bool:
    if isinstance(node, ast.Compare):
        parts = literals.comparison(node)
        return parts is not None and parts[0] == path
    return False


def _value_filter(condition: ast.Compare, source: str | None) -> str:
    parts = literals.comparison(condition)
    assert parts is not None
    _, operator, literal = parts
    if type(operator) not in _VALUE_OPERATORS:
        raise odata.unsupported(f"{model.VALUE} {literals.keyword(operator)}", source=source, adapter=model.ADAPTER)
    if not isinstance(literal, (ast.Integer, ast.Float)):
        raise errors.InvalidQuery(
            f"$filter: {model.VALUE} is a number; compare it with a number, not {literals.kind(literal)}",
            option="$filter",
        )
    return f"{_VALUE_OPERATORS[type(operator)]} {literal.val}"


def _selector(conjunction: Conjunction) -> str:
    names = [m for m in conjunction if m.label == model.NAME_LABEL and m.op == "="]
    on_name = [m for m in conjunction if m.label == model.NAME_LABEL]
    # `m{__name__=~"…"}` is invalid PromQL: the shorthand only when the name has no other matcher.
    if len(names) == 1 and len(on_name) == 1 and model.METRIC_NAME.match(names[0].value):
        rest = [m.render() for m in conjunction if m is not names[0]]
        return names[0].value + ("{" + ",".join(rest) + "}" if rest else "")
    return "{" + ",".join(m.render() for m in conjunction) + "}"


def _single_metric(selection: Selection) -> bool:
    names = {
        tuple(m.value for m in conjunction if m.label == model.NAME_LABEL and m.op == "=") for conjunction in selection
    }
    return len(names) == 1 and len(next(iter(names))) == 1


def translate(tree: ast._Node | None, *, spec: QuerySpec, source: str | None) -> PromQuery:
    """Translate a parsed `$filter` (None: no filter) for a query defined by `spec`."""
    selection: Selection = ((Matcher(model.NAME_LABEL, "=", spec.metric),),) if spec.metric else _TRUE
    times: list[ast.Compare] = []
    comparisons: list[str] = []
    visitor = _LabelFilter(source)
    for conjunct in _conjuncts(tree) if tree is not None else []:
        if _mentions(conjunct, model.TIMESTAMP):
            times.append(conjunct)  # type: ignore[arg-type]
        elif _mentions(conjunct, model.VALUE):
            comparisons.append(_value_filter(conjunct, source))  # type: ignore[arg-type]
        else:
            selection = _cross(selection, visitor.visit(conjunct), source=source)
    if any(not conjunction for conjunction in selection):
        raise odata.unsupported(
            "$filter",
            source=source,
            adapter=model.ADAPTER,
            hint="PromQL needs a metric or label condition: add metric eq '…'",
        )
    if spec.rate and len(selection) > 1 and not _single_metric(selection):
        raise odata.unsupported(
            "or",
            source=source,
            adapter=model.ADAPTER,
            hint="with rate(), all alternatives must select the same one metric",
        )
    selectors = [_selector(conjunction) for conjunction in selection]
    if spec.rate:
        selectors = [f"rate({selector}[{spec.rate}])" for selector in selectors]
    expr = " or ".join(selectors)
    if spec.aggregate:
        grouping = f" by ({', '.join(spec.by)})" if spec.by else ""
        expr = f"{spec.aggregate}{grouping} ({expr})"
    elif comparisons and len(selectors) > 1:
        expr = f"({expr})"
    for comparison in comparisons:
        expr = f"{expr} {comparison}"
    _check(expr, source)
    return PromQuery(expr=expr, time=timerange.from_conditions(times, source=source))


def _check(expr: str, source: str | None) -> None:
    try:
        promql_parser.parse(expr)
    except ValueError as exc:
        if "non-empty matcher" in str(exc):
            raise odata.unsupported(
                "$filter",
                source=source,
                adapter=model.ADAPTER,
                hint="PromQL needs a condition that cannot match an empty value, e.g. metric eq '…'",
            ) from None
        raise errors.PluginError(f"the prometheus adapter generated invalid PromQL ({exc}): {expr}") from None
