"""OData → GraphQL documents as a table, against a schema built from SDL (no server)."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import build_schema

from adapters.graphql import translate
from adapters.graphql.plugin import GraphQLPlugin
from plugin_runtime import errors, interface, odata
from tests.adapters import servers

SCHEMA = build_schema(
    """
    type Query {
      items(where: ItemWhere, order: [ItemOrder!], limit: Int, skip: Int): ItemPage!
      byKind(kind: String!, color: String): [Item!]!
      everything: [Item]
    }
    type ItemPage { list: [Item!]!, count: Int! }
    type Item { id: ID!, name: String, size: Int, weight: Float, kind: String, tags: [String], owner: Owner }
    type Owner { name: String }
    input ItemWhere { name: StrOps, size: IntOps, and: [ItemWhere!], or: [ItemWhere!] }
    input StrOps { eq: String, contains: String }
    input IntOps { eq: Int, gt: Int, in: [Int!] }
    input ItemOrder { name: Dir, size: Dir }
    enum Dir { asc desc }
    """
)
PAGED = translate.FieldSpec(
    field="items",
    items="list",
    total="count",
    filter_input="where",
    orderby_argument="order",
    top_argument="limit",
    skip_argument="skip",
)
BY_KIND = translate.FieldSpec(field="byKind", filter_arguments=(("kind", "kind"), ("color", "color")))
EVERYTHING = translate.FieldSpec(field="everything")


def plan(spec: translate.FieldSpec, **options: str) -> translate.GraphQLRequest:
    return translate.plan(SCHEMA, spec, odata.parse_params(options))


@pytest.mark.parametrize(
    ("options", "document", "variables"),
    [
        (
            {"$filter": "size gt 3 and contains(name,'x')", "$top": "5"},
            "query ODataQuery($v0: ItemWhere, $v1: Int) { items(where: $v0, limit: $v1)"
            " { list { id name size weight kind tags } count } }",
            {"v0": {"and": [{"size": {"gt": 3}}, {"name": {"contains": "x"}}]}, "v1": 5},
        ),
        (
            {"$filter": "size in (1,2) or name eq 'a' or size eq 9", "$select": "name"},
            "query ODataQuery($v0: ItemWhere) { items(where: $v0) { list { name } count } }",
            {"v0": {"or": [{"size": {"in": [1, 2]}}, {"name": {"eq": "a"}}, {"size": {"eq": 9}}]}},
        ),
        (
            {"$orderby": "size desc,name", "$top": "2", "$skip": "4", "$select": "id"},
            "query ODataQuery($v0: [ItemOrder!], $v1: Int, $v2: Int) { items(order: $v0, skip: $v1, limit: $v2)"
            " { list { id } count } }",
            {"v0": [{"size": "desc"}, {"name": "asc"}], "v1": 4, "v2": 2},
        ),
    ],
)
def test_documents_and_variables(options: dict[str, str], document: str, variables: dict[str, Any]) -> None:
    request = plan(PAGED, **options)
    assert request.document == document
    assert dict(request.variables) == variables


def test_values_never_enter_the_document() -> None:
    request = plan(PAGED, **{"$filter": "name eq '\") { __schema { types { name } } } #'"})
    assert "__schema" not in request.document and request.variables["v0"]["name"]["eq"].startswith('")')


def test_plain_arguments_and_a_field_fetched_whole() -> None:
    request = plan(BY_KIND, **{"$filter": "kind eq 'bolt' and color eq 'red'"})
    assert request.document.startswith("query ODataQuery($v0: String!, $v1: String) { byKind(kind: $v0, color: $v1)")
    whole = plan(EVERYTHING, **{"$orderby": "size desc", "$top": "3", "$select": "name"})
    assert whole.document == "query ODataQuery { everything { name size } }"  # the sort key is fetched too
    assert whole.local is not None and whole.local.top == 3 and whole.local.select == ("name",)


@pytest.mark.parametrize(
    ("spec", "options", "error", "fragment"),
    [
        (PAGED, {"$filter": "weight gt 1"}, errors.NotSupported, "cannot filter on weight"),
        (PAGED, {"$filter": "size ne 1"}, errors.NotSupported, "'size ne'"),
        (PAGED, {"$filter": "not (size eq 1)"}, errors.NotSupported, "has no 'not' field"),
        (PAGED, {"$filter": "owner eq 'x'"}, errors.InvalidQuery, "unknown property 'owner'"),
        (PAGED, {"$select": "owner"}, errors.InvalidQuery, "unknown property 'owner'"),
        (PAGED, {"$orderby": "kind"}, errors.NotSupported, "cannot sort by kind"),
        (PAGED, {"$filter": "size gt 'big'"}, errors.InvalidQuery, "Int cannot represent"),
        (BY_KIND, {}, errors.InvalidQuery, "needs kind eq"),
        (BY_KIND, {"$filter": "kind eq 'a' or kind eq 'b'"}, errors.NotSupported, "'or'"),
        (EVERYTHING, {"$filter": "size eq 1"}, errors.NotSupported, "takes no filter"),
    ],
)
def test_refusals(spec: translate.FieldSpec, options: dict[str, str], error: type[Exception], fragment: str) -> None:
    with pytest.raises(error) as caught:
        plan(spec, **options)
    assert fragment in str(caught.value)


def test_a_definition_that_does_not_fit_the_schema_is_a_backend_error() -> None:
    with pytest.raises(errors.BackendError, match="no Query field 'nothing'"):
        plan(translate.FieldSpec(field="nothing"))


def test_a_plugin_given_the_schema_as_sdl_translates_without_asking_the_api() -> None:
    sdl = "type Query { everything: [Thing] } type Thing { id: ID, n: Int }"
    query = interface.QueryDefinition(
        id="gts.hypernetix.hyperspot.ax.query.v1~acme.things._.things.v1",
        name="Things",
        category="tests",
        api_endpoint="/things",
        capabilities_id="gts.hypernetix.hyperspot.ax.query_capabilities.v1~acme.things._.default.v1",
        returns_schema_id="gts.hypernetix.hyperspot.ax.schema.v1~acme.things._.thing.v1~",
        options={"field": "everything"},
    )
    plugin = GraphQLPlugin()
    settings = {"base_url": servers.closed_port_url(), "schema_sdl": sdl}
    plugin.init(interface.PluginConfig(settings=settings, queries=(query,)))
    translation = plugin.translate(query.id, odata.parse_params({"$select": "n"}))
    assert translation.query == {"query": "query ODataQuery { everything { n } }", "variables": {}}
    with pytest.raises(errors.InvalidInput, match="not a GraphQL schema"):
        GraphQLPlugin().init(interface.PluginConfig(settings={**settings, "schema_sdl": "type {"}, queries=(query,)))
