"""Hostile OData is the caller's error: bounded at parse time, and whatever passes the bounds is
translated by every adapter or refused with a 4xx/501 problem — never an unexpected exception (which
the runtime would answer 500 and count against the plugin's circuit breaker)."""

from __future__ import annotations

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.elasticsearch import translate as es
from adapters.localsql import translate as localsql
from adapters.prometheus import translate as prom
from adapters.rest import translate as rest
from plugin_runtime import errors, odata

PROPERTIES = ("a", "b", "value", "timestamp", "metric", "job", "name", "cpu_usage", "host/name")
_TABLE = sa.Table(
    "t",
    sa.MetaData(),
    sa.Column("a", sa.Integer),
    sa.Column("b", sa.String),
    sa.Column("value", sa.Float),
    sa.Column("name", sa.String),
)
_TEMPLATE = rest.compile_template("{base_url}/items?name={filter.name}&limit={$top}")

numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr).filter(lambda t: "e" not in t or len(t) < 40),
    st.sampled_from(["1e308", "1e400", "-0.0", "00000000000000000000001", "9" * 60, "1." + "5" * 60]),
)
strings = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20).map(
    lambda t: "'" + t.replace("'", "''") + "'"
)
literals = st.one_of(numbers, strings, st.sampled_from(["true", "false", "null", "2024-01-01T00:00:00Z"]))
properties = st.sampled_from(PROPERTIES)
comparisons = st.builds(
    lambda p, op, v: f"{p} {op} {v}", properties, st.sampled_from(["eq", "ne", "gt", "ge", "lt", "le"]), literals
)
calls = st.builds(
    lambda f, p, v: f"{f}({p}, {v})", st.sampled_from(["contains", "startswith", "endswith"]), properties, strings
)
ins = st.builds(lambda p, vs: f"{p} in ({', '.join(vs)})", properties, st.lists(literals, min_size=1, max_size=5))


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(lambda a, b: f"{a} and {b}", children, children),
        st.builds(lambda a, b: f"({a}) or ({b})", children, children),
        children.map(lambda a: f"not ({a})"),
    )


filters = st.recursive(st.one_of(comparisons, calls, ins), _combine, max_leaves=30)
chains = st.builds(
    lambda op, n, leaf: op.join([leaf] * n),
    st.sampled_from([" and ", " or "]),
    st.integers(min_value=1, max_value=400),
    st.sampled_from(["a eq 1", "x", "name eq 'n'"]),
)
prefixes = st.builds(
    lambda word, n: word * n + "a eq 1", st.sampled_from(["not ", "(", "not ("]), st.integers(0, 1200)
).map(lambda t: t + ")" * t.count("("))


def _translate_everywhere(params: odata.ODataParams) -> None:
    tree, source = params.filter_ast, params.filter
    for call in (
        lambda: prom.translate(tree, spec=prom.QuerySpec(metric="m"), source=source),
        lambda: es.translate(
            tree, spec=es.IndexSpec(index="i"), source=source, top=params.top, skip=params.skip, count=params.count
        ),
        lambda: rest.plan(_TEMPLATE, tree, source=source, top=params.top, skip=params.skip),
        lambda: localsql.plan(_TABLE, params, page_size=100),
    ):
        try:
            call()
        except errors.PluginError as exc:
            assert exc.status in (400, 501), exc


def _check(options: dict[str, str]) -> None:
    try:
        params = odata.parse_params(options)
    except errors.PluginError as exc:
        assert exc.status == 400, exc
        return
    _translate_everywhere(params)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(filters, chains, prefixes))
def test_any_filter_is_translated_or_refused_as_the_callers_error(text: str) -> None:
    _check({"$filter": text})


@settings(max_examples=200, deadline=None)
@given(
    top=st.one_of(st.integers(-5, 2**70).map(str), st.text(max_size=8)),
    skip=st.one_of(st.integers(-5, 2**70).map(str), st.sampled_from(["1" * 5000, "0x10", " 7"])),
)
def test_any_paging_is_accepted_within_bounds_or_refused(top: str, skip: str) -> None:
    _check({"$top": top, "$skip": skip})


def test_the_known_killers_are_400_naming_the_construct() -> None:
    killers = {
        "1,000 ands": ("$filter", " and ".join(["x"] * 1000)),
        "3,000 nots": ("$filter", "not " * 3000 + "a eq 1"),
        "700 nots within the length bound": ("$filter", "not " * 700 + "a eq 1"),
        "a 5,000-digit number": ("$filter", "a eq " + "9" * 5000),
        "a 60-digit number": ("$filter", "a eq " + "9" * 60),
        "an integer beyond 64 bits": ("$filter", f"a eq {2**64}"),
        "an infinite decimal": ("$filter", "a eq 1e400"),
        "$skip above 2^63": ("$skip", str(2**63 + 1)),
        "$top above the maximum": ("$top", str(odata.MAX_TOP + 1)),
    }
    for name, (option, value) in killers.items():
        try:
            odata.parse_params({option: value})
        except errors.InvalidQuery as exc:
            assert exc.status == 400
            assert exc.extensions.get("option") == option, name
            assert option in exc.detail, (name, exc.detail)
        else:
            raise AssertionError(f"{name} was accepted")
