"""The OData pass-through adapter against a real local upstream OData service."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from adapters.odata.plugin import ODataPassthroughPlugin
from plugin_runtime import errors, interface, odata
from tests.adapters import servers
from tests.adapters.conftest import QUERY_ID, config

CTX = interface.SecurityCtx(subject="tester")
PRODUCTS = [{"ID": n, "Name": f"Product {n}", "Price": 1.5 * n} for n in range(1, 8)]
UPSTREAM_PAGE = 2  # the upstream pages server-side, two entities a page


def upstream(request: servers.Request) -> servers.Reply:
    """A small OData service: /odata/Products with $top/$skip/$count and server-driven paging."""
    if request.path == "/odata/":
        return servers.Reply(200, {"@odata.context": "$metadata", "value": [{"name": "Products", "url": "Products"}]})
    if request.path != "/odata/Products":
        return servers.Reply(404, {"error": {"code": "NotFound", "message": f"no resource {request.path}"}})
    args = request.args
    if "$filter" in args and "bogus" in args["$filter"]:
        error = {"code": "BadFilter", "message": "Could not find a property named 'bogus'", "target": "$filter"}
        error["details"] = [{"code": "Unknown", "message": "bogus is not on Product", "target": "bogus"}]
        return servers.Reply(400, {"error": error})
    if "$filter" in args and "matchesPattern" in args["$filter"]:
        return servers.Reply(501, {"error": {"code": "NotImplemented", "message": "matchesPattern is not supported"}})
    skip = int(args.get("$skiptoken", args.get("$skip", "0")))
    end = len(PRODUCTS) if "$top" not in args else int(args.get("$skip", "0")) + int(args["$top"])
    chunk = PRODUCTS[skip : min(skip + UPSTREAM_PAGE, end)]
    body: dict[str, Any] = {
        "@odata.context": "$metadata#Products",
        "value": [{"@odata.etag": f'W/"{row["ID"]}"', **row, "Price@odata.type": "#Decimal"} for row in chunk],
    }
    if args.get("$count") == "true":
        body["@odata.count"] = len(PRODUCTS)
    if skip + UPSTREAM_PAGE < min(end, len(PRODUCTS)):
        rest = {key: value for key, value in args.items() if key != "$skiptoken"}
        body["@odata.nextLink"] = "Products?" + urlencode({**rest, "$skiptoken": str(skip + UPSTREAM_PAGE)})
    return servers.Reply(200, body)


@pytest.fixture
def service() -> Iterator[servers.Server]:
    with servers.serving(upstream) as server:
        yield server


def plugin_for(base_url: str, **settings: Any) -> ODataPassthroughPlugin:
    plugin = ODataPassthroughPlugin()
    plugin.init(config(base_url, {"path": "Products"}, **settings))
    return plugin


def run(plugin: ODataPassthroughPlugin, **options: str) -> interface.QueryResult:
    return plugin.execute_query(CTX, QUERY_ID, odata.parse_params(options))


def test_options_are_forwarded_unchanged(service: servers.Server) -> None:
    options = {
        "$filter": "contains(Name,'uct') and (Price gt 2 or ID in (1, 2)) and not endswith(Name,'9')",
        "$select": "ID,Name",
        "$orderby": "Price desc,ID asc",
        "$top": "1",
        "$count": "true",
        "region": "eu",
    }
    run(plugin_for(f"{service.url}/odata"), **options)
    first = service.requests[0]
    assert first.path == "/odata/Products"
    # $top one longer: the extra row tells the runtime's paging whether more rows exist.
    assert dict(first.query) == {**options, "$top": "2"} and len(first.query) == len(options)
    assert first.headers["accept"] == "application/json"


def test_upstream_pages_are_followed_and_rows_normalised(service: servers.Server) -> None:
    result = run(plugin_for(f"{service.url}/odata"), **{"$top": "5", "$count": "true"})
    assert list(result.rows) == PRODUCTS[:5]  # no @odata.etag, no Price@odata.type
    assert result.count == len(PRODUCTS)
    assert result.has_more is True  # a sixth product exists: the probe row came back
    assert [request.args.get("$skiptoken") for request in service.requests] == [None, "2", "4"]
    everything = run(plugin_for(f"{service.url}/odata"), **{"$top": "7"})
    assert list(everything.rows) == PRODUCTS and everything.has_more is False


def test_without_top_a_page_is_page_size_rows(service: servers.Server) -> None:
    result = run(plugin_for(f"{service.url}/odata", page_size=3), **{"$skip": "1"})
    assert list(result.rows) == PRODUCTS[1:4]
    assert result.has_more is True and result.count is None


def test_max_pages_bounds_the_pages_read_for_one_page(service: servers.Server) -> None:
    result = run(plugin_for(f"{service.url}/odata", max_pages=2), **{"$top": "6"})
    assert list(result.rows) == PRODUCTS[:4] and result.has_more is True
    assert len(service.requests) == 2


def test_a_next_link_outside_the_service_root_is_not_followed() -> None:
    def leaking(request: servers.Request) -> servers.Reply:
        return servers.Reply(
            200, {"value": [{"ID": 1}], "@odata.nextLink": "http://elsewhere.test/odata/Products?$skiptoken=1"}
        )

    with servers.serving(leaking) as server, pytest.raises(errors.BackendError) as caught:
        run(plugin_for(f"{server.url}/odata", page_size=5))
    assert "outside its service root" in caught.value.detail
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("options", "error", "status", "message"),
    [
        (
            {"$filter": "bogus eq 1"},
            errors.InvalidQuery,
            400,
            "BadFilter: Could not find a property named 'bogus' (target: $filter);"
            " Unknown: bogus is not on Product (target: bogus)",
        ),
        ({"$filter": "matchesPattern(Name,'^P')"}, errors.NotSupported, 501, "matchesPattern is not supported"),
    ],
)
def test_upstream_judgement_of_the_odata_is_passed_on(
    service: servers.Server, options: dict[str, str], error: type[errors.PluginError], status: int, message: str
) -> None:
    with pytest.raises(error) as caught:
        run(plugin_for(f"{service.url}/odata"), **options)
    assert caught.value.status == status and message in caught.value.detail


def test_a_missing_resource_is_a_backend_error(service: servers.Server) -> None:
    plugin = ODataPassthroughPlugin()
    plugin.init(config(f"{service.url}/odata", {"path": "Nope"}))
    with pytest.raises(errors.BackendError) as caught:
        run(plugin)
    assert caught.value.status == 502 and "no resource /odata/Nope" in caught.value.detail


def test_health_reads_the_service_document(service: servers.Server) -> None:
    health = plugin_for(f"{service.url}/odata").health_check()
    assert health.status is interface.HealthState.HEALTHY
    assert service.requests[-1].path == "/odata/"


def test_an_unreachable_upstream_is_503_and_unhealthy() -> None:
    plugin = plugin_for(servers.closed_port_url() + "/odata", retry_count=1)
    with pytest.raises(errors.PluginUnavailable):
        run(plugin)
    assert plugin.health_check().status is interface.HealthState.UNHEALTHY


def test_the_translation_preview_is_the_forwarded_request(service: servers.Server) -> None:
    translation = plugin_for(f"{service.url}/odata").translate(
        QUERY_ID, odata.parse_params({"$top": "3", "$filter": "ID eq 1"})
    )
    assert (translation.language, translation.endpoint) == ("odata", "/Products")
    assert translation.query == {"$filter": "ID eq 1", "$top": "4"}


@pytest.mark.parametrize("path", ["", "../admin", "a/../b", "Products?x=1", "/Products"])
def test_a_bad_path_fails_init(path: str) -> None:
    with pytest.raises(errors.InvalidInput):
        ODataPassthroughPlugin().init(config("http://upstream.test/odata", {"path": path}))


@pytest.mark.parametrize("token", ["tok-3141-secret", "tok-3141-secret\n"])
def test_the_upstream_error_keeps_its_code_message_and_target_without_secrets(token: str) -> None:
    def echoing(request: servers.Request) -> servers.Reply:
        error = {"code": "Forbidden", "message": f"token {request.headers['authorization']} lacks a role"}
        return servers.Reply(403, {"error": {**error, "target": "Products"}})

    with servers.serving(echoing) as server, pytest.raises(errors.BackendError) as caught:
        plugin = ODataPassthroughPlugin()
        plugin.init(config(f"{server.url}/odata", {"path": "Products"}, secrets={"bearer_token": token}))
        run(plugin)
    detail = caught.value.detail
    assert "tok-3141" not in detail and "secret" not in detail
    # A trailing newline (a Secret made --from-file) is dropped: the header is sent, the echo masked.
    assert detail == "OData service answered HTTP 403: Forbidden: token Bearer *** lacks a role (target: Products)"


def test_a_token_with_a_line_break_inside_fails_init_naming_the_secret_not_its_value() -> None:
    plugin = ODataPassthroughPlugin()
    with pytest.raises(errors.InvalidInput) as refused:
        plugin.init(config("http://upstream.test/odata", {"path": "Products"}, secrets={"bearer_token": "tok\nsecret"}))
    assert "bearer_token" in refused.value.detail and "tok" not in refused.value.detail.replace("bearer_token", "")
