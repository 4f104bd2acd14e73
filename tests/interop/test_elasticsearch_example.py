"""The Elasticsearch example with its `@timestamp` field, served by a real runtime.

No Elasticsearch server exists on these machines: a loopback stub answers `_search` in
Elasticsearch's shape from seven documents (term and range filters, sort keys, from/size,
`_source` lists) and records the DSL it is sent. What is proven: the field is `timestamp` in $filter,
$orderby, $select, rows and both $metadata forms, and `@timestamp` in the DSL. Relevance,
analyzers and Elasticsearch's own semantics are not tested here.
"""

from __future__ import annotations

import json
import operator
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from odata import ODataService

from adapters.elasticsearch.plugin import QueryOptions
from tests.adapters import servers

from .conftest import ServeExample

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
DOCS = [
    {
        "_id": f"d{n}",
        "_source": {"@timestamp": f"2024-05-01T10:0{n}:00Z", "level": ("error", "info")[n % 2], "message": f"m{n}"},
    }
    for n in range(7)
]
_RANGE: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def search(request: servers.Request) -> servers.Reply:
    if request.path == "/_cluster/health":
        return servers.Reply(200, {"status": "green"})
    body = json.loads(request.body)
    hits = list(DOCS)
    for clause in body.get("query", {}).get("bool", {}).get("filter", []):
        if "term" in clause:
            ((field, value),) = clause["term"].items()
            hits = [hit for hit in hits if hit["_source"].get(field) == value]
            continue
        ((field, bounds),) = clause["range"].items()
        for bound, value in bounds.items():
            hits = [hit for hit in hits if _RANGE[bound](hit["_source"][field], value)]
    for key in reversed(body.get("sort", [])):
        ((field, how),) = key.items()
        hits.sort(key=lambda hit, f=field: hit["_source"][f], reverse=how["order"] == "desc")
    total = len(hits)
    hits = hits[body.get("from", 0) : body.get("from", 0) + body["size"]]
    if isinstance(body.get("_source"), list):
        hits = [{**h, "_source": {k: v for k, v in h["_source"].items() if k in body["_source"]}} for h in hits]
    return servers.Reply(200, {"hits": {"total": {"value": total, "relation": "eq"}, "hits": hits}})


@pytest.fixture
def elasticsearch() -> Iterator[servers.Server]:
    with servers.serving(search) as server:
        yield server


def test_the_timestamp_field_filters_sorts_selects_and_is_described(
    serve_example: ServeExample, elasticsearch: servers.Server
) -> None:
    with serve_example("elasticsearch-logs", base_url=elasticsearch.url) as runtime:
        params = {
            "$filter": "timestamp ge 2024-05-01T10:01:00Z",
            "$orderby": "timestamp desc",
            "$select": "timestamp,message",
            "$top": "2",
            "$count": "true",
        }
        body = runtime.get("/odata/app_logs", params=params).json()
        assert body["value"] == [
            {"timestamp": "2024-05-01T10:06:00Z", "message": "m6"},
            {"timestamp": "2024-05-01T10:05:00Z", "message": "m5"},
        ]
        assert body["@odata.count"] == 6
        sent = json.loads(elasticsearch.requests[-1].body)
        assert sent["query"] == {"bool": {"filter": [{"range": {"@timestamp": {"gte": "2024-05-01T10:01:00Z"}}}]}}
        assert sent["sort"] == [{"@timestamp": {"order": "desc", "missing": "_last"}}]
        assert sent["_source"] == ["@timestamp", "message"]
        whole = runtime.get("/odata/app_logs", params={"$orderby": "timestamp"}).json()["value"]
        assert whole[0] == {"_id": "d0", "timestamp": "2024-05-01T10:00:00Z", "level": "error", "message": "m0"}


def test_python_odata_consumes_the_elasticsearch_example(
    serve_example: ServeExample, elasticsearch: servers.Server
) -> None:
    with serve_example("elasticsearch-logs", base_url=elasticsearch.url, page_size=2) as runtime:
        odata = ODataService(runtime.url + "/odata", reflect_entities=True, quiet_progress=True)
        Logs = odata.entities["app_logs"]
        errors = odata.query(Logs).filter(Logs.level == "error").order_by(Logs.timestamp.desc()).all()
        assert [(log._id, log.message) for log in errors] == [("d6", "m6"), ("d4", "m4"), ("d2", "m2"), ("d0", "m0")]
        assert [log.timestamp.minute for log in errors] == [6, 4, 2, 0]  # typed Edm.DateTimeOffset
        assert odata.query(Logs).filter(Logs.level == "info").count() == 3
        sent = [json.loads(request.body) for request in elasticsearch.requests if request.path.endswith("_search")]
        assert {"term": {"level": "error"}} in sent[0]["query"]["bool"]["filter"]
        assert [body["from"] for body in sent[:2]] == [0, 2]  # two-row pages, followed by python-odata

        as_json = runtime.get("/odata/$metadata", params={"$format": "json"}).json()["HyperSpot.Analytics"]
        assert as_json["AppLogsRow"]["timestamp"]["$Type"] == "Edm.DateTimeOffset"
        assert "@timestamp" not in as_json["AppLogsRow"]
        tree = ET.fromstring(runtime.get("/odata/$metadata").content)
        row_type = next(t for t in tree.iter(f"{EDM}EntityType") if t.get("Name") == "AppLogsRow")
        assert {p.get("Name") for p in row_type.iter(f"{EDM}Property")} == {
            "_id",
            "message",
            "level",
            "service",
            "timestamp",
        }


def test_fields_that_would_share_a_property_name_are_refused() -> None:
    with pytest.raises(ValueError, match="both map to the OData property 'timestamp'"):
        QueryOptions.model_validate({"index": "logs", "fields": {"@timestamp": "date", "timestamp": "date"}})
    spec = QueryOptions.model_validate({"index": "logs", "fields": {"host.name": "keyword", "@ts": "date"}}).spec()
    assert spec.es_field("host_name") == "host.name" and spec.es_field("ts") == "@ts"
