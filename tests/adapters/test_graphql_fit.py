"""`fit` vouches only for valid documents: every document it accepts passes graphql-core's full
`validate`, and translating with it gives exactly what full validation of every document gave
(the same document and variables, or the same error), over the benchmark corpus, random filters,
and random query definitions over a schema full of traps."""

from __future__ import annotations

from typing import Any
from unittest import mock

from graphql import GraphQLSchema, build_schema, parse, validate
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.graphql import fit, translate
from bench import corpus
from plugin_runtime import odata

CORPUS_SCHEMA = build_schema(corpus.GRAPHQL_SDL)
CORPUS_SPEC = translate.FieldSpec(
    field="orders",
    items="nodes",
    total="totalCount",
    filter_input="where",
    orderby_argument="orderBy",
    top_argument="first",
    skip_argument="offset",
)
TRAPS = build_schema(
    """
    type Query {
      items(where: ItemWhere, order: [ItemOrder!], limit: Int, skip: Int): ItemPage!
      single(order: ItemOrder, limit: Int!): ItemPage
      byKind(kind: String!, color: String): [Item!]!
      defaulted(key: Int! = 3, kind: String): [Item]
      everything: [Item]
      empty: [Empty]
      nodes: [Node]
      scalars: [Int]
    }
    type ItemPage { list: [Item!]!, count: Int!, paged(n: Int!): [Item!]!, sized(n: Int!): Int, owner: Owner }
    interface Node { id: ID! }
    type Item implements Node {
      id: ID!, name: String, size: Int, kind: String, owner: Owner, cut(len: Int!): String, opt(len: Int): String
    }
    type Empty { owner: Owner }
    type Owner { name: String }
    input ItemWhere { name: StrOps, size: IntOps, kind: StrOps, and: [ItemWhere!], or: [ItemWhere!], not: ItemWhere }
    input StrOps { eq: String, contains: String, in: [String!] }
    input IntOps { eq: Int, gt: Int, in: [Int!] }
    input ItemOrder { name: Dir, size: Dir }
    enum Dir { ASC DESC }
    """
)
_NAMES = ("items", "single", "byKind", "defaulted", "everything", "empty", "nodes", "scalars", "nothing")
_MEMBERS = (None, "list", "count", "paged", "sized", "owner", "missing")
_ARGUMENTS = (None, "where", "order", "limit", "skip", "kind", "key", "color", "missing")
_PROPERTIES = ("id", "name", "size", "kind", "owner", "cut", "opt", "missing")
_LEAVES = ("id", "name", "size", "kind", "opt")  # the leaves a document may select without arguments

#: (field, items) that lead to rows, so that most examples get as far as the document
_FITTING = st.sampled_from(
    [
        ("items", "list"),
        ("items", "paged"),
        ("single", "list"),
        ("byKind", None),
        ("defaulted", None),
        ("everything", None),
        ("nodes", None),
        ("empty", None),
    ]
)
_ANY = st.tuples(st.sampled_from(_NAMES), st.sampled_from(_MEMBERS))

Outcome = tuple[str, Any, Any]


def _outcome(schema: GraphQLSchema, spec: translate.FieldSpec, options: dict[str, str]) -> Outcome:
    try:
        request = translate.plan(schema, spec, odata.parse_params(options))
    except Exception as exc:  # the comparison is of whatever happens
        return type(exc).__name__, str(exc), None
    return "ok", request.document, dict(request.variables)


def _full_validation(schema: GraphQLSchema, spec: translate.FieldSpec, options: dict[str, str]) -> Outcome:
    """What translating gave when every document went through graphql-core's full `validate`."""
    translate.clear_validation_cache()
    with mock.patch.object(fit, "fits", return_value=False):
        return _outcome(schema, spec, options)


def _check(schema: GraphQLSchema, spec: translate.FieldSpec, options: dict[str, str]) -> list[bool]:
    translate.clear_validation_cache()
    real = fit.fits
    verdicts: list[bool] = []

    def spy(*args: Any) -> bool:
        verdicts.append(real(*args))
        return verdicts[-1]

    with mock.patch.object(fit, "fits", spy):
        outcome = _outcome(schema, spec, options)
    assert outcome == _full_validation(schema, spec, options)
    if outcome[0] == "ok":
        assert validate(schema, parse(outcome[1])) == []
    if verdicts and verdicts[0]:
        assert outcome[0] == "ok"  # fit vouched: nothing after it refuses
    return verdicts


_literal = st.one_of(
    st.integers(-5, 1000).map(str),
    st.text(alphabet="abc' x", max_size=6).map(lambda text: "'" + text.replace("'", "''") + "'"),
)


def _comparison(properties: tuple[str, ...]) -> st.SearchStrategy[str]:
    simple = st.builds(
        "{} {} {}".format, st.sampled_from(properties), st.sampled_from(["eq", "ne", "gt", "ge", "lt", "le"]), _literal
    )
    listed = st.builds(
        lambda p, values: f"{p} in ({','.join(values)})",
        st.sampled_from(properties),
        st.lists(_literal, min_size=1, max_size=3),
    )
    called = st.builds(
        lambda f, p, text: f"{f}({p},'{text}')",
        st.sampled_from(["contains", "startswith", "endswith", "tolower"]),
        st.sampled_from(properties),
        st.text(alphabet="abc", max_size=4),
    )
    return st.one_of(simple, listed, called)


def _filters(properties: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.recursive(
        _comparison(properties),
        lambda inner: st.one_of(
            st.builds("({}) and ({})".format, inner, inner),
            st.builds("({}) or ({})".format, inner, inner),
            st.builds("not ({})".format, inner),
        ),
        max_leaves=5,
    )


def _options(properties: tuple[str, ...]) -> st.SearchStrategy[dict[str, str]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "$filter": _filters(properties),
            "$select": st.lists(st.sampled_from(properties), min_size=1, max_size=4).map(",".join),
            "$orderby": st.lists(
                st.builds("{} {}".format, st.sampled_from(properties), st.sampled_from(["asc", "desc"])),
                min_size=1,
                max_size=2,
            ).map(",".join),
            "$top": st.integers(0, 100).map(str),
            "$skip": st.integers(0, 100).map(str),
            "$count": st.sampled_from(["true", "false"]),
        },
    )


def test_every_corpus_request_takes_the_fast_path_and_its_document_is_valid() -> None:
    for text in corpus.GRAPHQL_FILTERS:
        assert _check(CORPUS_SCHEMA, CORPUS_SPEC, {"$filter": text, "$top": "50", "$orderby": "total desc"}) == [True]


@settings(max_examples=300, deadline=None)
@given(_options(("customer", "status", "region", "total", "items", "placed", "id", "missing")))
def test_random_requests_of_the_corpus_query_translate_as_full_validation_did(options: dict[str, str]) -> None:
    _check(CORPUS_SCHEMA, CORPUS_SPEC, options)


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(_FITTING, _ANY).flatmap(
        lambda where: st.builds(
            translate.FieldSpec,
            field=st.just(where[0]),
            items=st.just(where[1]),
            total=st.sampled_from(_MEMBERS),
            select=st.lists(st.sampled_from(_LEAVES) | st.sampled_from(_PROPERTIES), min_size=1, max_size=3).map(tuple)
            | st.just(()),
            filter_input=st.sampled_from(_ARGUMENTS),
            filter_arguments=st.lists(
                st.tuples(st.sampled_from(_PROPERTIES), st.sampled_from(_ARGUMENTS[1:])), max_size=2
            ).map(tuple),
            orderby_argument=st.sampled_from(_ARGUMENTS),
            top_argument=st.sampled_from(_ARGUMENTS),
            skip_argument=st.sampled_from(_ARGUMENTS),
        )
    ),
    _options(("id", "name", "size", "kind", "cut", "opt", "owner")),
)
def test_random_definitions_over_a_schema_of_traps_translate_as_full_validation_did(
    spec: translate.FieldSpec, options: dict[str, str]
) -> None:
    _check(TRAPS, spec, options)


def test_the_traps_are_refused_with_graphql_cores_own_message() -> None:
    """Cases `fit` leaves to the full validation, each with the message graphql-core gives."""
    cases = [
        (translate.FieldSpec(field="items", items="list", total="owner", select=("id",)), "must have a selection"),
        (translate.FieldSpec(field="items", items="list", total="sized", select=("id",)), "'ItemPage.sized(n:)'"),
        (translate.FieldSpec(field="items", items="paged", select=("id",)), "'ItemPage.paged(n:)' of type 'Int!'"),
        (translate.FieldSpec(field="everything", select=("cut",)), "'Item.cut(len:)' of type 'Int!' is required"),
    ]
    for spec, message in cases:
        assert _check(TRAPS, spec, {}) == [False]
        outcome = _outcome(TRAPS, spec, {})
        assert outcome[0] == "BackendError" and "does not fit the GraphQL schema" in outcome[1], outcome
        assert message in outcome[1]


def test_rows_without_leaf_fields_are_refused_rather_than_sent_an_empty_selection() -> None:
    assert _outcome(TRAPS, translate.FieldSpec(field="empty"), {})[:2] == (
        "BackendError",
        "the rows of empty have no scalar or enum fields",
    )


@settings(max_examples=300, deadline=None)
@given(
    st.builds(
        translate.FieldSpec,
        field=st.just("items"),
        items=st.just("list"),
        total=st.sampled_from([None, "count", "count", "sized", "owner"]),
        select=st.lists(st.sampled_from(_LEAVES), min_size=1, max_size=3).map(tuple),
        filter_input=st.sampled_from([None, "where", "where"]),
        orderby_argument=st.sampled_from([None, "order", "order"]),
        top_argument=st.sampled_from([None, "limit", "limit", "skip"]),
        skip_argument=st.sampled_from([None, "skip", "skip", "limit"]),
    ),
    _options(_LEAVES),
)
def test_random_paged_definitions_translate_as_full_validation_did(
    spec: translate.FieldSpec, options: dict[str, str]
) -> None:
    _check(TRAPS, spec, options)
