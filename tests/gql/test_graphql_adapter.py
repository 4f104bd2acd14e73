"""The graphql adapter in a real runtime against a real GraphQL server (strawberry, plugin_devcluster/demos/fleet.py).

Each OData request is answered by the runtime and compared with what a hand-written GraphQL query
returns from the same server directly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from plugin_devcluster.demos import fleet as server
from tests.adapters import servers
from tests.runtime.support import Runtime, serving

QUERY = "gts.hypernetix.hyperspot.ax.query.v1~acme.fleet._.{}.v1"
PAGED, LISTED, BY_ARGS = QUERY.format("servers"), QUERY.format("all_servers"), QUERY.format("servers_in")


def query(name: str, endpoint: str, **options: Any) -> dict[str, Any]:
    return {
        "id": QUERY.format(name),
        "name": name,
        "category": "fleet",
        "api_endpoint": endpoint,
        "capabilities_id": "gts.hypernetix.hyperspot.ax.query_capabilities.v1~acme.fleet._.default.v1",
        "returns_schema_id": "gts.hypernetix.hyperspot.ax.schema.v1~acme.fleet._.server.v1~",
        "options": options,
    }


def runtime_config(url: str, **settings: Any) -> dict[str, Any]:
    queries = [
        query(
            "servers",
            "/fleet/servers",
            field="servers",
            items="nodes",
            total="totalCount",
            filter_input="where",
            orderby_argument="orderBy",
            top_argument="first",
            skip_argument="offset",
        ),
        query("all_servers", "/fleet/all", field="allServers", select=["id", "host", "memory"]),
        query("servers_in", "/fleet/in", field="serversIn", filter_arguments={"region": "region", "env": "env"}),
    ]
    plugin = {
        "id": "fleet",
        "version": "1.0.0",
        "adapter": "graphql",
        "contract_format": "graphql",
        "settings": {"base_url": url, "timeout": "5s", "retry_backoff": "10ms", **settings},
        "queries": queries,
    }
    return {"plugins": [plugin], "watch_interval_seconds": None}


@pytest.fixture(scope="module")
def graphql_url() -> Iterator[str]:
    with server.serving() as url:
        yield url


@pytest.fixture
def fleet(tmp_path: Path, graphql_url: str) -> Callable[..., contextlib.AbstractContextManager[Runtime]]:
    def start(**settings: Any) -> contextlib.AbstractContextManager[Runtime]:
        return serving(tmp_path, runtime_config(graphql_url, **settings), {})

    return start


def direct(url: str, document: str, variables: dict[str, Any] | None = None) -> Any:
    answer = httpx.post(url, json={"query": document, "variables": variables or {}}).json()
    assert "errors" not in answer, answer
    return answer["data"]


def by(key: str, *, reverse: bool = False) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
    return lambda rows: sorted(rows, key=lambda row: row[key], reverse=reverse)


CASES: list[tuple[str, dict[str, str], str, Callable[[Any], Any]]] = [
    (
        PAGED,
        {"$filter": "region eq 'eu-west'", "$orderby": "cpu desc", "$select": "id,host,cpu"},
        '{ servers(where: {region: {eq: "eu-west"}}, orderBy: [{cpu: DESC}]) { nodes { id host cpu } } }',
        lambda data: data["servers"]["nodes"],
    ),
    (
        PAGED,
        {
            "$filter": "cpu gt 50 and env eq 'prod'",
            "$orderby": "host",
            "$top": "3",
            "$skip": "1",
            "$select": "host,cpu",
        },
        '{ servers(where: {and: [{cpu: {gt: 50}}, {env: {eq: "prod"}}]}, orderBy: [{host: ASC}], first: 3, offset: 1)'
        " { nodes { host cpu } } }",
        lambda data: data["servers"]["nodes"],
    ),
    (
        PAGED,
        {"$filter": "contains(host,'web') or startswith(host,'db')", "$orderby": "id", "$select": "host"},
        '{ servers(where: {or: [{host: {contains: "web"}}, {host: {startswith: "db"}}]}, orderBy: [{id: ASC}])'
        " { nodes { host } } }",
        lambda data: data["servers"]["nodes"],
    ),
    (
        PAGED,
        {"$filter": "not (region eq 'us-east')", "$orderby": "memory desc", "$top": "5", "$select": "id,memory"},
        '{ servers(where: {not: {region: {eq: "us-east"}}}, orderBy: [{memory: DESC}], first: 5)'
        " { nodes { id memory } } }",
        lambda data: data["servers"]["nodes"],
    ),
    (
        PAGED,
        {"$filter": "region in ('eu-west','ap-south') and up eq true", "$orderby": "id", "$select": "id,region,up"},
        '{ servers(where: {region: {in: ["eu-west", "ap-south"]}, up: {eq: true}}, orderBy: [{id: ASC}])'
        " { nodes { id region up } } }",
        lambda data: data["servers"]["nodes"],
    ),
    (
        PAGED,
        {"$filter": "endswith(host,'7') or memory ge 4000", "$orderby": "id", "$select": "host,memory"},
        '{ servers(where: {or: [{host: {endswith: "7"}}, {memory: {ge: 4000}}]}, orderBy: [{id: ASC}])'
        " { nodes { host memory } } }",
        lambda data: data["servers"]["nodes"],
    ),
    (
        PAGED,
        {"$filter": "cpu ge 20.5 and cpu le 60", "$orderby": "region asc,cpu desc", "$select": "region,cpu"},
        "{ servers(where: {cpu: {ge: 20.5, le: 60}}, orderBy: [{region: ASC}, {cpu: DESC}]) { nodes { region cpu } } }",
        lambda data: data["servers"]["nodes"],
    ),
    (
        PAGED,
        {"$orderby": "id", "$top": "4", "$skip": "20"},
        "{ servers(orderBy: [{id: ASC}], first: 4, offset: 20) { nodes { id host region env cpu memory up } } }",
        lambda data: data["servers"]["nodes"],
    ),
    (
        LISTED,
        {"$orderby": "memory desc", "$top": "5", "$select": "host,memory"},
        "{ allServers { host memory } }",
        lambda data: by("memory", reverse=True)(data["allServers"])[:5],
    ),
    (
        LISTED,
        {"$skip": "3", "$top": "2"},
        "{ allServers { id host memory } }",
        lambda data: data["allServers"][3:5],
    ),
    (
        BY_ARGS,
        {"$filter": "region eq 'us-east' and env eq 'prod'", "$select": "id,host,env"},
        '{ serversIn(region: "us-east", env: "prod") { id host env } }',
        lambda data: data["serversIn"],
    ),
    (
        BY_ARGS,
        {"$filter": "region eq 'ap-south'", "$orderby": "cpu", "$select": "host,cpu"},
        '{ serversIn(region: "ap-south") { host cpu } }',
        lambda data: by("cpu")(data["serversIn"]),
    ),
]


def test_rows_equal_the_same_graphql_query_run_directly(fleet: Any, graphql_url: str) -> None:
    with fleet() as runtime:
        for query_id, params, document, rows_of in CASES:
            response = runtime.get(f"/queries/{query_id}", params=params)
            assert response.status_code == 200, (params, response.text)
            expected = rows_of(direct(graphql_url, document))
            assert response.json()["value"] == expected, params
            assert expected, f"a case without rows proves little: {params}"


def test_count_is_the_whole_filtered_set(fleet: Any, graphql_url: str) -> None:
    with fleet() as runtime:
        params = {"$filter": "up eq false or cpu lt 10", "$top": "1", "$count": "true"}
        body = runtime.get(f"/queries/{PAGED}", params=params).json()
        total = direct(graphql_url, "{ servers(where: {or: [{up: {eq: false}}, {cpu: {lt: 10}}]}) { totalCount } }")
        assert body["@odata.count"] == total["servers"]["totalCount"] and len(body["value"]) == 1
        listed = runtime.get(f"/queries/{LISTED}", params={"$top": "2", "$count": "true"}).json()
        assert listed["@odata.count"] == len(server.DATA)


@pytest.mark.parametrize("query_id", [PAGED, LISTED])
def test_server_driven_paging_reaches_every_row_once(fleet: Any, query_id: str) -> None:
    with fleet(page_size=5) as runtime:
        body = runtime.get(f"/queries/{query_id}", params={"$orderby": "id", "$select": "id"}).json()
        seen = [row["id"] for row in body["value"]]
        pages = 1
        while "@odata.nextLink" in body:
            body = runtime.client.get(body["@odata.nextLink"]).json()
            seen += [row["id"] for row in body["value"]]
            pages += 1
        assert seen == sorted(str(s.id) for s in server.DATA) and pages == 5


def test_the_translation_preview_is_the_document_sent(fleet: Any, graphql_url: str) -> None:
    with fleet() as runtime:
        params = {"$filter": "cpu gt 50 and contains(host,'api')", "$orderby": "cpu desc", "$top": "2"}
        preview = runtime.get(f"/queries/{PAGED}/translate", params=params).json()
        assert preview["language"] == "graphql" and preview["endpoint"] == graphql_url
        sent = preview["query"]
        assert "where: $v0" in sent["query"] and sent["variables"]["v0"] == {
            "and": [{"cpu": {"gt": 50}}, {"host": {"contains": "api"}}]
        }
        rows = direct(graphql_url, sent["query"], sent["variables"])["servers"]["nodes"]
        assert runtime.get(f"/queries/{PAGED}", params=params).json()["value"] == rows[:2]


@pytest.mark.parametrize(
    ("query_id", "params", "status", "fragment"),
    [
        (PAGED, {"$filter": "cpu add 1 gt 5"}, 501, "cannot translate"),
        (PAGED, {"$filter": "memory ne 3000"}, 501, "'memory ne'"),
        (PAGED, {"$filter": "tolower(host) eq 'x'"}, 501, "cannot translate"),
        (BY_ARGS, {"$filter": "region ne 'x'"}, 501, "'region ne'"),
        (BY_ARGS, {"$filter": "region eq 'eu-west' or env eq 'prod'"}, 501, "cannot translate"),
        (LISTED, {"$filter": "host eq 'web-00'"}, 501, "takes no filter"),
        (BY_ARGS, {}, 400, "needs region eq"),
        (PAGED, {"$filter": "cpu gt 'high'"}, 400, "Float cannot represent"),
        (PAGED, {"$select": "nope"}, 400, "unknown property 'nope'"),
        (PAGED, {"$filter": "nope eq 1"}, 400, "unknown property 'nope'"),
    ],
)
def test_what_cannot_be_asked_is_refused_naming_the_construct(
    fleet: Any, query_id: str, params: dict[str, str], status: int, fragment: str
) -> None:
    with fleet() as runtime:
        response = runtime.get(f"/queries/{query_id}", params=params)
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert fragment in response.json()["detail"]


def test_health_probes_the_api_and_metadata_describes_the_item_type(tmp_path: Path, graphql_url: str) -> None:
    with serving(tmp_path, runtime_config(graphql_url), {}) as runtime:
        health = runtime.get("/plugins/fleet/health").json()
        assert health["status"] == "healthy" and health["dependencies"][0]["name"] == "GraphQL API"
        csdl = runtime.get("/plugins/fleet/odata/$metadata", params={"$format": "json"}).json()["HyperSpot.Analytics"]
        assert {k: v["$Type"] for k, v in csdl["ServersRow"].items() if not k.startswith("$")} == {
            "id": "Edm.String",
            "host": "Edm.String",
            "region": "Edm.String",
            "env": "Edm.String",
            "cpu": "Edm.Double",
            "memory": "Edm.Int32",
            "up": "Edm.Boolean",
        }
        assert csdl["ServersRow"]["$Key"] == ["id"]
    with serving(tmp_path, runtime_config(servers.closed_port_url() + "/graphql", retry_count=0), {}) as runtime:
        health = runtime.get("/plugins/fleet/health").json()
        assert health["status"] == "unhealthy" and "unreachable" in health["dependencies"][0]["message"]
