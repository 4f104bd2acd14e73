"""The Elasticsearch plugin end to end over recorded Elasticsearch answers.

No Elasticsearch server exists on these machines: `recorded/` holds answers in the shape
Elasticsearch 8/9 gives, served through httpx.MockTransport, which also checks the request the
plugin sent (method, path, query DSL, credentials).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.elasticsearch.plugin import ElasticsearchPlugin
from plugin_runtime import errors, interface, odata
from tests.adapters.conftest import QUERY_ID, config

RECORDED = Path(__file__).parent / "recorded"
CTX = interface.SecurityCtx(subject="tester")
OPTIONS = {
    "index": "logs-*",
    "fields": {"service": "keyword", "message": "text", "status": "long", "ts": "date", "host/name": "keyword"},
}


def recorded(name: str) -> Any:
    return json.loads((RECORDED / name).read_text())


def plugin_answering(
    answer: Callable[[httpx.Request], httpx.Response], sent: list[httpx.Request], **settings: Any
) -> ElasticsearchPlugin:
    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answer(request)

    plugin = ElasticsearchPlugin(transport=httpx.MockTransport(handler))
    plugin.init(config("http://es.test:9200", OPTIONS, secrets={"api_key": "ZXM6a2V5"}, **settings))
    return plugin


def test_a_search_sends_the_dsl_and_returns_hits_as_rows() -> None:
    sent: list[httpx.Request] = []
    plugin = plugin_answering(lambda request: httpx.Response(200, json=recorded("es_search_logs.json")), sent)
    params = odata.parse_params(
        {
            "$filter": "service eq 'api' and status ge 500 and contains(message,'connection refused')",
            "$orderby": "status desc",
            "$top": "3",
            "$count": "true",
        }
    )
    result = plugin.execute_query(CTX, QUERY_ID, params)

    (request,) = sent
    assert (request.method, request.url.path) == ("POST", "/logs-*/_search")
    assert request.headers["authorization"] == "ApiKey ZXM6a2V5"
    assert json.loads(request.content) == {
        "query": {
            "bool": {
                "filter": [
                    {"term": {"service": "api"}},
                    {"range": {"status": {"gte": 500}}},
                    {"match": {"message": {"query": "connection refused", "operator": "and"}}},
                ]
            }
        },
        "sort": [{"status": {"order": "desc", "missing": "_last"}}],
        "from": 0,
        "size": 4,
        "track_total_hits": True,
    }
    hits = recorded("es_search_logs.json")["hits"]["hits"]
    assert list(result.rows) == [{"_id": hit["_id"], **hit["_source"]} for hit in hits]
    assert result.count == 57
    assert result.has_more is False  # three hits for $top=3: the probe row did not come back


def test_a_full_page_plus_the_probe_row_means_more_rows() -> None:
    sent: list[httpx.Request] = []
    plugin = plugin_answering(lambda request: httpx.Response(200, json=recorded("es_search_logs.json")), sent)
    result = plugin.execute_query(CTX, QUERY_ID, odata.parse_params({"$top": "2"}))
    assert [row["_id"] for row in result.rows] == ["kX3b1YsBq1", "kX3b1YsBq7"]
    assert result.has_more is True and result.count is None


def test_select_asks_for_source_fields_and_keeps_nested_properties() -> None:
    sent: list[httpx.Request] = []
    plugin = plugin_answering(lambda request: httpx.Response(200, json=recorded("es_search_selected.json")), sent)
    result = plugin.execute_query(
        CTX, QUERY_ID, odata.parse_params({"$select": "host/name,status", "$orderby": "host/name"})
    )
    body = json.loads(sent[0].content)
    assert body["_source"] == ["host.name", "status"]
    assert body["sort"] == [{"host.name": {"order": "asc", "missing": "_first"}}]
    assert list(result.rows) == [
        {"host": {"name": "node-1"}, "status": 503},
        {"host": {"name": "node-2"}, "status": 502},
    ]


@pytest.mark.parametrize(
    ("status", "name", "message"),
    [
        (404, "es_error_index_not_found.json", "index_not_found_exception: no such index [metrics-nope]"),
        (400, "es_error_query_shard.json", "search_phase_execution_exception: all shards failed"),
    ],
)
def test_elasticsearch_errors_are_502_with_its_reason(status: int, name: str, message: str) -> None:
    plugin = plugin_answering(lambda request: httpx.Response(status, json=recorded(name)), [])
    with pytest.raises(errors.BackendError) as caught:
        plugin.execute_query(CTX, QUERY_ID, odata.parse_params({}))
    problem = caught.value.to_problem()
    assert problem["status"] == 502 and message in problem["detail"]
    assert problem["backend_status"] == status


def test_an_overloaded_cluster_is_retried() -> None:
    answers = [
        httpx.Response(429, json={"error": "too many requests"}),
        httpx.Response(200, json=recorded("es_search_logs.json")),
    ]
    sent: list[httpx.Request] = []
    plugin = plugin_answering(lambda request: answers.pop(0), sent)
    assert len(plugin.execute_query(CTX, QUERY_ID, odata.parse_params({})).rows) == 3
    assert len(sent) == 2


@pytest.mark.parametrize(
    ("name", "state"),
    [
        ("es_cluster_health_green.json", interface.HealthState.HEALTHY),
        ("es_cluster_health_yellow.json", interface.HealthState.DEGRADED),
        ("es_cluster_health_red.json", interface.HealthState.UNHEALTHY),
    ],
)
def test_health_follows_the_cluster_status(name: str, state: interface.HealthState) -> None:
    sent: list[httpx.Request] = []
    plugin = plugin_answering(lambda request: httpx.Response(200, json=recorded(name)), sent)
    health = plugin.health_check()
    assert health.status is state
    assert health.dependencies[0].name == "Elasticsearch API"
    assert health.dependencies[0].response_time_ms is not None
    assert sent[0].url.path == "/_cluster/health"


def test_the_translation_preview_is_the_request_body() -> None:
    plugin = plugin_answering(lambda request: httpx.Response(500), [])
    translation = plugin.translate(QUERY_ID, odata.parse_params({"$filter": "startswith(service,'ap')"}))
    assert translation.language == "es-dsl"
    assert translation.endpoint == "/logs-*/_search"
    assert translation.query["query"] == {"bool": {"filter": [{"prefix": {"service": "ap"}}]}}


def test_capabilities_describe_the_declared_fields() -> None:
    plugin = plugin_answering(lambda request: httpx.Response(500), [])
    described = plugin.capabilities(QUERY_ID)
    assert described["properties"] == {
        "_id": "Edm.String",
        "service": "Edm.String",
        "message": "Edm.String",
        "status": "Edm.Int64",
        "ts": "Edm.DateTimeOffset",
        "host": "Edm.Untyped",
    }
    assert described["key"] == ["_id"]
    restrictions = described["annotations"]["Org.OData.Capabilities.V1.SortRestrictions"]
    assert restrictions["NonSortableProperties"] == ["_id", "message"]
    assert described["open_type"] is False


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "index: Field required"),
        ({"index": "Logs"}, "not an Elasticsearch index name"),
        ({"index": "logs", "fields": {"a": "geo_point"}}, "fields.a"),
        ({"index": "logs", "shards": 2}, "shards: Extra inputs are not permitted"),
    ],
)
def test_bad_query_options_fail_init_with_the_field_named(options: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.InvalidInput) as caught:
        ElasticsearchPlugin().init(config("http://es.test:9200", options))
    assert message in caught.value.detail and QUERY_ID in caught.value.detail
