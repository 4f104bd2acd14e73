"""The GraphQL example manifest against the real GraphQL test server, consumed by python-odata."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from odata import ODataService

from plugin_devcluster.demos import fleet as server

from .conftest import ServeExample


@pytest.fixture(scope="module")
def graphql_url() -> Iterator[str]:
    with server.serving() as url:
        yield url


def test_python_odata_consumes_the_graphql_example(serve_example: ServeExample, graphql_url: str) -> None:
    with serve_example("graphql-fleet", base_url=graphql_url, page_size=5) as runtime:
        assert runtime.get("/plugins/graphql-fleet/health").json()["status"] == "healthy"
        odata = ODataService(runtime.url + "/odata", reflect_entities=True, quiet_progress=True)
        assert set(odata.entities) == {"servers", "servers_in"}
        Servers = odata.entities["servers"]
        busy = odata.query(Servers).filter("cpu gt 20").filter(Servers.env == "prod").order_by(Servers.cpu.desc())
        got = [(s.host, s.cpu) for s in busy.all()]  # followed through 5-row pages
        direct = httpx.post(
            graphql_url,
            json={
                "query": '{ servers(where: {cpu: {gt: 20}, env: {eq: "prod"}}, orderBy: [{cpu: DESC}])'
                " { nodes { host cpu } totalCount } }"
            },
        ).json()["data"]["servers"]
        assert got == [(n["host"], n["cpu"]) for n in direct["nodes"]] and len(got) > 5
        assert odata.query(Servers).filter("cpu gt 20").filter(Servers.env == "prod").count() == direct["totalCount"]
        ServersIn = odata.entities["servers_in"]
        hosts = [s.host for s in odata.query(ServersIn).filter(ServersIn.region == "eu-west").all()]
        assert hosts == [s.host for s in server.DATA if s.region == "eu-west"]
