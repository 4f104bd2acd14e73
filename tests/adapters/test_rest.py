"""The REST adapter: URL templates, parameter mapping and JSONPath rows, against a real local API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from adapters.rest import translate
from adapters.rest.plugin import RestPlugin
from plugin_runtime import errors, interface, odata
from tests.adapters import servers
from tests.adapters.conftest import QUERY_ID, config

CTX = interface.SecurityCtx(subject="tester")
ITEMS = [
    {
        "id": n,
        "attributes": {"name": f"item {n:02d}", "category": ("tools", "toys", "food")[n % 3], "price": (n * 37) % 50},
    }
    for n in range(1, 13)
]
FIELDS = {"id": "id", "name": "attributes.name", "category": "attributes.category", "price": "attributes.price"}
PAGED = {
    "url": "{base_url}/items?limit={$top}&offset={$skip}&category={filter.category}&sort={$orderby}",
    "rows": "$.data.items[*]",
    "fields": FIELDS,
    "total": "$.meta.total",
}


def flat(item: dict[str, Any]) -> dict[str, Any]:
    return {"id": item["id"], **item["attributes"]}


def api(request: servers.Request) -> servers.Reply:
    """A small JSON API: /v2/items (paged, filtered, sorted), /v2/items/<id>, /v2/all (every item)."""
    if request.path == "/v2/all":
        kind = request.args.get("kind")
        return servers.Reply(
            200, [flat(item) for item in ITEMS if kind is None or item["attributes"]["category"] == kind]
        )
    if request.path.startswith("/v2/items/"):
        wanted = request.path.removeprefix("/v2/items/")
        return servers.Reply(200, {"data": {"items": [item for item in ITEMS if str(item["id"]) == wanted]}})
    if request.path != "/v2/items":
        return servers.Reply(404, {"message": "no such resource"})
    args = request.args
    selected = [item for item in ITEMS if "category" not in args or item["attributes"]["category"] == args["category"]]
    if "sort" in args:
        for part in reversed(args["sort"].split(",")):
            name, direction = part.split(" ")
            selected.sort(key=lambda item, n=name: item.get(n, item["attributes"].get(n)), reverse=direction == "desc")
    offset, limit = int(args.get("offset", 0)), int(args.get("limit", 100))
    return servers.Reply(200, {"data": {"items": selected[offset : offset + limit]}, "meta": {"total": len(selected)}})


@pytest.fixture
def api_server() -> Iterator[servers.Server]:
    with servers.serving(api) as server:
        yield server


def plugin_for(url: str, options: dict[str, Any], **settings: Any) -> RestPlugin:
    plugin = RestPlugin()
    plugin.init(config(f"{url}/v2", options, **settings))
    return plugin


def run(plugin: RestPlugin, **options: str) -> interface.QueryResult:
    return plugin.execute_query(CTX, QUERY_ID, odata.parse_params(options))


def plan(template: str, filter_text: str | None = None, **options: Any) -> translate.RestCall:
    tree = odata.parse_filter(filter_text) if filter_text is not None else None
    return translate.plan(translate.compile_template(template), tree, source=filter_text, **options)


@pytest.mark.parametrize(
    ("template", "filter_text", "options", "path", "params"),
    [
        ("{base_url}/items?q={filter.name}", "name eq 'a b&c'", {}, "/items", (("q", "a b&c"),)),
        ("{base_url}/items?q={filter.name}", None, {}, "/items", ()),
        ("/items?q=name:{filter.name}&fixed=1", "name eq 'x'", {}, "/items", (("q", "name:x"), ("fixed", "1"))),
        ("{base_url}/users/{filter.id}/posts", "id eq 'a/b c'", {}, "/users/a%2Fb%20c/posts", ()),
        (
            "/items?id={filter.id}&active={filter.active}",
            "id eq 5 and active eq true",
            {},
            "/items",
            (("id", "5"), ("active", "true")),
        ),
        ("/items?day={filter.day}", "day eq 2023-11-14", {}, "/items", (("day", "2023-11-14"),)),
        (
            "/items?limit={$top}&offset={$skip}",
            None,
            {"top": 10, "skip": 20},
            "/items",
            (("limit", "11"), ("offset", "20")),
        ),
        ("/items?limit={$top}", None, {"page_size": 50, "has_total": True}, "/items", (("limit", "50"),)),
        (
            "/items?sort={$orderby}",
            None,
            {"orderby": (odata.OrderBy("name"), odata.OrderBy("id", True))},
            "/items",
            (("sort", "name asc,id desc"),),
        ),
        ("/items?region={option.region}", None, {"custom": {"region": "eu"}}, "/items", (("region", "eu"),)),
        ("/items?region={option.region}", None, {}, "/items", ()),
    ],
)
def test_templates_render_requests(
    template: str, filter_text: str | None, options: dict[str, Any], path: str, params: tuple[tuple[str, str], ...]
) -> None:
    call = plan(template, filter_text, **options)
    assert (call.path, call.params) == (path, params)


@pytest.mark.parametrize(
    ("template", "filter_text", "options", "construct"),
    [
        ("/items?q={filter.name}", "name eq 'a' or name eq 'b'", {}, "or"),
        ("/items?q={filter.name}", "name ne 'a'", {}, "name ne"),
        ("/items?q={filter.name}", "contains(name,'a')", {}, "contains"),
        ("/items?q={filter.name}", "price gt 3", {}, "price gt"),
        ("/items?q={filter.name}", "other eq 'x'", {}, "other eq"),
        ("/items?q={filter.name}", "name eq null", {}, "name eq"),
        ("/items?q={filter.name}", "not (name eq 'a')", {}, "not"),
        ("/items?q={filter.name}", "name eq 'a' and name eq 'b'", {}, "name eq"),
        ("/items?limit={$top}", None, {"orderby": (odata.OrderBy("name"),)}, "$orderby"),
        ("/items?limit={$top}", None, {"count": True}, "$count"),
    ],
)
def test_what_the_api_cannot_be_asked_is_501(
    template: str, filter_text: str | None, options: dict, construct: str
) -> None:
    with pytest.raises(errors.NotSupported) as caught:
        plan(template, filter_text, **options)
    assert caught.value.extensions["construct"] == construct


def test_a_path_placeholder_without_a_value_is_400() -> None:
    with pytest.raises(errors.InvalidQuery) as caught:
        plan("/users/{filter.id}/posts")
    assert "id eq … in $filter" in caught.value.detail


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("items", "must start with"),
        ("/items?x={nope}", "unknown placeholder {nope}"),
        ("/items?offset={$skip}", "{$skip} needs {$top}"),
        ("/a/{base_url}", "may only start"),
        ("/items?{filter.k}=1", "not in parameter names"),
    ],
)
def test_bad_templates_fail_init(template: str, message: str) -> None:
    with pytest.raises(errors.InvalidInput) as caught:
        RestPlugin().init(config("http://api.test", {"url": template}))
    assert message in caught.value.detail and "url" in caught.value.detail


def test_a_paging_api_is_asked_for_the_page(api_server: servers.Server) -> None:
    plugin = plugin_for(api_server.url, PAGED)
    result = run(
        plugin,
        **{"$filter": "category eq 'tools'", "$orderby": "price desc", "$top": "2", "$skip": "1", "$count": "true"},
    )
    tools = sorted((flat(i) for i in ITEMS if i["attributes"]["category"] == "tools"), key=lambda r: -r["price"])
    assert list(result.rows) == tools[1:3]
    assert result.count == len(tools) and result.has_more is True
    (sent,) = api_server.requests
    assert sent.path == "/v2/items"
    assert sent.query == [("limit", "2"), ("offset", "1"), ("category", "tools"), ("sort", "price desc")]


def test_select_applies_to_the_mapped_rows(api_server: servers.Server) -> None:
    result = run(plugin_for(api_server.url, PAGED), **{"$select": "name", "$top": "2"})
    assert list(result.rows) == [{"name": "item 01"}, {"name": "item 02"}]


def test_without_a_total_one_more_row_is_asked_to_know_if_more_exist(api_server: servers.Server) -> None:
    plugin = plugin_for(
        api_server.url,
        {"url": "{base_url}/items?limit={$top}&offset={$skip}", "rows": "$.data.items", "fields": FIELDS},
    )
    middle = run(plugin, **{"$top": "5", "$skip": "5"})
    last = run(plugin, **{"$top": "5", "$skip": "10"})
    assert [row["id"] for row in middle.rows] == [6, 7, 8, 9, 10] and middle.has_more is True
    assert [row["id"] for row in last.rows] == [11, 12] and last.has_more is False
    assert [request.args["limit"] for request in api_server.requests] == ["6", "6"]


def test_a_path_parameter_comes_from_the_filter(api_server: servers.Server) -> None:
    plugin = plugin_for(
        api_server.url, {"url": "{base_url}/items/{filter.id}", "rows": "$.data.items", "fields": FIELDS}
    )
    assert list(run(plugin, **{"$filter": "id eq 7"}).rows) == [flat(ITEMS[6])]
    assert api_server.requests[0].path == "/v2/items/7"
    with pytest.raises(errors.InvalidQuery):
        run(plugin)


def test_an_api_that_answers_everything_is_paged_sorted_and_counted_here(api_server: servers.Server) -> None:
    plugin = plugin_for(api_server.url, {"url": "{base_url}/all?kind={option.kind}"})
    result = run(plugin, **{"$orderby": "name desc", "$top": "2", "$count": "true", "kind": "toys"})
    toys = sorted(
        (flat(i) for i in ITEMS if i["attributes"]["category"] == "toys"), key=lambda r: r["name"], reverse=True
    )
    assert list(result.rows) == toys[:2]
    assert result.count == len(toys) and result.has_more is True
    assert api_server.requests[0].query == [("kind", "toys")]
    assert len(run(plugin).rows) == len(ITEMS)
    assert api_server.requests[1].query == []


def test_the_api_key_goes_in_the_configured_header(api_server: servers.Server) -> None:
    plugin = RestPlugin()
    plugin.init(config(f"{api_server.url}/v2", {"url": "/all"}, secrets={"api_key": "k-123"}, api_key_header="X-Token"))
    run(plugin)
    assert api_server.requests[0].headers["x-token"] == "k-123"
    assert "authorization" not in api_server.requests[0].headers


def test_items_that_are_not_objects_need_a_field_mapping() -> None:
    with (
        servers.serving(lambda request: servers.Reply(200, {"values": [1, 2]})) as server,
        pytest.raises(errors.BackendError) as caught,
    ):
        run(plugin_for(server.url, {"url": "/x", "rows": "$.values"}))
    assert "fields" in caught.value.detail


def test_the_translation_preview_is_the_url(api_server: servers.Server) -> None:
    translation = plugin_for(api_server.url, PAGED).translate(
        QUERY_ID, odata.parse_params({"$filter": "category eq 'toys'", "$top": "3"})
    )
    assert translation.query == f"GET {api_server.url}/v2/items?limit=3&offset=0&category=toys"


def test_capabilities_say_what_the_template_allows(api_server: servers.Server) -> None:
    plugin = plugin_for(
        api_server.url, {"url": "{base_url}/users/{filter.user}/items?limit={$top}&q={filter.name}", "fields": FIELDS}
    )
    described = plugin.capabilities(QUERY_ID)
    annotations = described["annotations"]
    assert annotations["Org.OData.Capabilities.V1.FilterFunctions"] == ["eq", "and"]
    restrictions = annotations["Org.OData.Capabilities.V1.FilterRestrictions"]
    assert restrictions["RequiresFilter"] is True and restrictions["RequiredProperties"] == ["user"]
    assert restrictions["FilterExpressionRestrictions"] == [
        {"Property": "name", "AllowedExpressions": "SingleValue"},
        {"Property": "user", "AllowedExpressions": "SingleValue"},
    ]
    assert annotations["Org.OData.Capabilities.V1.SortRestrictions"]["Sortable"] is False
    assert annotations["Org.OData.Capabilities.V1.CountRestrictions"]["Countable"] is False
    assert set(described["properties"]) == set(FIELDS)


def test_health_probes_the_configured_path(api_server: servers.Server) -> None:
    healthy = plugin_for(api_server.url, {"url": "/all"}, health_path="/all").health_check()
    missing = plugin_for(api_server.url, {"url": "/all"}, health_path="/nope").health_check()
    assert healthy.status is interface.HealthState.HEALTHY
    assert missing.status is interface.HealthState.UNHEALTHY and missing.message == "HTTP 404"
