"""GTS entities registered by plugins, read through the API (registered here with the real registry)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from plugin_operator import db, registry

from .conftest import QUERY_TYPE, Tokens, bearer

DATASOURCE_TYPE = "gts.hypernetix.hyperspot.ax.datasource.v1~"


def _query(slug: str, name: str) -> dict[str, str]:
    return {
        "id": f"{QUERY_TYPE}hyperspot.{slug}._.{name}.v1",
        "name": name.title(),
        "category": "monitoring",
        "api_endpoint": f"/{name}",
        "capabilities_id": "gts.hypernetix.hyperspot.ax.query_capabilities.v1~hyperspot.apitest._.default.v1",
        "returns_schema_id": "gts.hypernetix.hyperspot.ax.schema.v1~hyperspot.apitest._.timeseries.v1~",
    }


@pytest.fixture
def owner(database: db.Database) -> tuple[str, str]:
    """A plugin that registered two queries and a datasource, then stopped declaring one query."""
    plugin_id = f"gts-{uuid.uuid4().hex[:8]}"
    slug = plugin_id.replace("-", "_")
    reg = registry.Registry(database)
    cpu, mem = _query(slug, "cpu"), _query(slug, "memory")
    datasource = {
        "id": f"{DATASOURCE_TYPE}hyperspot.{slug}._.cpu_by_host.v1",
        "query_id": cpu["id"],
        "name": "CPU by host",
        "params": {"$filter": "host eq 'a'"},
    }
    reg.register(plugin_id, "uid-1", "1.0.0", [cpu, mem], [datasource], adopt=False)
    reg.register(plugin_id, "uid-1", "1.1.0", [cpu], [datasource], adopt=False)
    return plugin_id, slug


def test_list_filters_by_owner_kind_and_state(client: httpx.Client, tokens: Tokens, owner: tuple[str, str]) -> None:
    plugin_id, slug = owner

    def listed(**params: str) -> list[tuple[str, str, str]]:
        response = client.get("/gts", params={"owner": plugin_id, **params}, headers=bearer(tokens.read))
        assert response.status_code == 200, response.text
        return [(item["id"].split("~")[1], item["kind"], item["state"]) for item in response.json()["items"]]

    assert listed() == [  # ordered by id: the datasource type sorts before the query type
        (f"hyperspot.{slug}._.cpu_by_host.v1", "datasource", "active"),
        (f"hyperspot.{slug}._.cpu.v1", "query", "active"),
        (f"hyperspot.{slug}._.memory.v1", "query", "deprecated"),
    ]
    assert listed(kind="datasource") == [(f"hyperspot.{slug}._.cpu_by_host.v1", "datasource", "active")]
    assert listed(state="deprecated") == [(f"hyperspot.{slug}._.memory.v1", "query", "deprecated")]
    page = client.get("/gts", params={"owner": plugin_id, "limit": 1, "offset": 1}, headers=bearer(tokens.read)).json()
    assert (page["total"], len(page["items"]), page["items"][0]["id"]) == (
        3,
        1,
        f"{QUERY_TYPE}hyperspot.{slug}._.cpu.v1",
    )


def test_queries_lists_only_active_queries(client: httpx.Client, tokens: Tokens, owner: tuple[str, str]) -> None:
    plugin_id, slug = owner
    response = client.get("/queries", params={"owner": plugin_id}, headers=bearer(tokens.read))
    assert response.status_code == 200
    assert [item["id"] for item in response.json()["items"]] == [f"{QUERY_TYPE}hyperspot.{slug}._.cpu.v1"]


def test_get_one_entity_with_its_owner_and_body(client: httpx.Client, tokens: Tokens, owner: tuple[str, str]) -> None:
    plugin_id, slug = owner
    entity_id = f"{QUERY_TYPE}hyperspot.{slug}._.cpu.v1"
    response = client.get(f"/gts/{entity_id}", headers=bearer(tokens.read))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["owner_plugin_id"], body["owner_version"], body["state"]) == (
        entity_id,
        plugin_id,
        "1.1.0",
        "active",
    )
    assert body["body"]["api_endpoint"] == "/cpu" and body["body"]["contract_format"] == "custom"


@pytest.mark.parametrize(
    ("entity_id", "reason"),
    [
        ("gts.hypernetix.hyperspot.ax.query.v1", "chained"),
        ("gts.Hypernetix.hyperspot.ax.query.v1~x.y.z.w.v1", "segment"),
        ("gts.hypernetix.hyperspot.ax.query.v1~hyperspot.apitest._.cpu.v01", "version"),
        ("gts.hypernetix.hyperspot.ax.query.v1~", "instance"),
        ("prometheus-adapter", "gts."),
    ],
)
def test_malformed_ids_are_400_naming_the_rule(
    client: httpx.Client, tokens: Tokens, entity_id: str, reason: str
) -> None:
    response = client.get(f"/gts/{entity_id}", headers=bearer(tokens.read))
    assert response.status_code == 400
    assert reason in response.json()["detail"]


def test_unknown_entity_is_404(client: httpx.Client, tokens: Tokens) -> None:
    response = client.get(f"/gts/{QUERY_TYPE}hyperspot.nobody._.nothing.v1", headers=bearer(tokens.read))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("params", [{"kind": "dashboard"}, {"state": "gone"}, {"limit": "0"}, {"offset": "-5"}])
def test_bad_filters_are_400(client: httpx.Client, tokens: Tokens, params: dict[str, str]) -> None:
    assert client.get("/gts", params=params, headers=bearer(tokens.read)).status_code == 400
