"""OData → Elasticsearch query DSL: a table of (filter, expected query), then the other options."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.elasticsearch import translate
from plugin_runtime import errors, odata

LOGS = translate.IndexSpec(
    index="logs-*",
    fields=(
        ("service", "keyword"),
        ("message", "text"),
        ("status", "long"),
        ("latency", "double"),
        ("ts", "date"),
        ("ok", "boolean"),
        ("host/name", "keyword"),
    ),
)
OPEN = translate.IndexSpec(index="events")


def dsl(filter_text: str | None, spec: translate.IndexSpec = LOGS, **options: Any) -> dict[str, Any]:
    tree = odata.parse_filter(filter_text) if filter_text is not None else None
    return dict(translate.translate(tree, spec=spec, source=filter_text, **options).body)


def where(*clauses: dict[str, Any]) -> dict[str, Any]:
    return {"bool": {"filter": list(clauses)}}


def must_not(*clauses: dict[str, Any]) -> dict[str, Any]:
    return {"bool": {"must_not": list(clauses)}}


def either(*clauses: dict[str, Any]) -> dict[str, Any]:
    return {"bool": {"should": list(clauses), "minimum_should_match": 1}}


@pytest.mark.parametrize(
    ("filter_text", "expected"),
    [
        ("service eq 'api'", where({"term": {"service": "api"}})),
        ("'api' eq service", where({"term": {"service": "api"}})),
        ("service ne 'api'", where(must_not({"term": {"service": "api"}}))),
        ("service eq null", where(must_not({"exists": {"field": "service"}}))),
        ("service ne null", where({"exists": {"field": "service"}})),
        ("status ge 500", where({"range": {"status": {"gte": 500}}})),
        (
            "status gt 500 and status lt 600",
            where({"range": {"status": {"gt": 500}}}, {"range": {"status": {"lt": 600}}}),
        ),
        ("500 le status", where({"range": {"status": {"gte": 500}}})),
        ("latency le 0.25", where({"range": {"latency": {"lte": 0.25}}})),
        ("status gt null", where({"match_none": {}})),
        (
            "ts ge 2023-11-14T22:13:20Z and ts lt 2023-11-15",
            where({"range": {"ts": {"gte": "2023-11-14T22:13:20Z"}}}, {"range": {"ts": {"lt": "2023-11-15"}}}),
        ),
        ("ok eq true", where({"term": {"ok": True}})),
        ("service in ('api','web')", where({"terms": {"service": ["api", "web"]}})),
        (
            "service in ('api', null)",
            where(either({"terms": {"service": ["api"]}}, must_not({"exists": {"field": "service"}}))),
        ),
        ("host/name eq 'node-1'", where({"term": {"host.name": "node-1"}})),
        ("_id eq 'kX3b1YsBq1'", where({"term": {"_id": "kX3b1YsBq1"}})),
        (
            "contains(message,'connection refused')",
            where({"match": {"message": {"query": "connection refused", "operator": "and"}}}),
        ),
        ("contains(service,'pi')", where({"wildcard": {"service": {"value": "*pi*"}}})),
        ("contains(service,'a*b?c\\d')", where({"wildcard": {"service": {"value": "*a\\*b\\?c\\\\d*"}}})),
        ("startswith(service,'ap')", where({"prefix": {"service": "ap"}})),
        ("endswith(host/name,'-1')", where({"wildcard": {"host.name": {"value": "*-1"}}})),
        ("not startswith(service,'ap')", where(must_not({"prefix": {"service": "ap"}}))),
        ("startswith(service,'ap') eq false", where(must_not({"prefix": {"service": "ap"}}))),
        ("not (service ne 'api')", where({"term": {"service": "api"}})),
        (
            "service eq 'api' or service eq 'web' or status eq 500",
            where(either({"term": {"service": "api"}}, {"term": {"service": "web"}}, {"term": {"status": 500}})),
        ),
        (
            "service eq 'api' and (status ge 500 or not (ok eq true))",
            where(
                {"term": {"service": "api"}},
                either({"range": {"status": {"gte": 500}}}, must_not({"term": {"ok": True}})),
            ),
        ),
        (
            "not (service eq 'api' and status eq 200)",
            where(must_not({"bool": {"filter": [{"term": {"service": "api"}}, {"term": {"status": 200}}]}})),
        ),
    ],
)
def test_filters_translate_to_query_dsl(filter_text: str, expected: dict[str, Any]) -> None:
    assert dsl(filter_text)["query"] == expected


def test_without_declared_fields_every_property_is_an_exact_value_field() -> None:
    assert dsl("contains(note,'x') and level eq 3", spec=OPEN)["query"] == where(
        {"wildcard": {"note": {"value": "*x*"}}}, {"term": {"level": 3}}
    )


def test_no_filter_matches_all_and_asks_one_row_more_than_a_page() -> None:
    assert dsl(None, page_size=50) == {"size": 51, "from": 0, "track_total_hits": False}


def test_paging_sorting_selection_and_count() -> None:
    body = dsl(
        "service eq 'api'",
        select=("host/name", "status", "_id"),
        orderby=(odata.OrderBy("status", descending=True), odata.OrderBy("ts")),
        top=20,
        skip=40,
        count=True,
    )
    assert body == {
        "query": where({"term": {"service": "api"}}),
        "sort": [
            {"status": {"order": "desc", "missing": "_last"}},
            {"ts": {"order": "asc", "missing": "_first"}},
        ],
        "_source": ["host.name", "status"],
        "from": 40,
        "size": 21,
        "track_total_hits": True,
    }


def test_selecting_only_the_id_fetches_no_source() -> None:
    assert dsl(None, select=("_id",))["_source"] is False


def test_the_last_page_before_the_result_window_counts_instead_of_probing() -> None:
    request = translate.translate(None, spec=LOGS, source=None, top=100, skip=9_900)
    assert (request.body["size"], request.body["track_total_hits"], request.probe) == (100, True, False)


def test_the_index_pattern_is_the_endpoint() -> None:
    assert translate.translate(None, spec=LOGS, source=None).endpoint == "/logs-*/_search"


@pytest.mark.parametrize(
    ("filter_text", "construct", "position"),
    [
        ("message eq 'x'", "message eq", 0),
        ("startswith(message,'x')", "startswith", 0),
        ("service eq 'a' and tolower(service) eq 'api'", "tolower", 19),
        ("status add 1 gt 5", "gt", 13),
        ("status in (1, 2) and -status lt 0", "lt", 29),
    ],
)
def test_valid_odata_the_dsl_cannot_express_is_501(filter_text: str, construct: str, position: int) -> None:
    with pytest.raises(errors.NotSupported) as caught:
        dsl(filter_text)
    problem = caught.value.to_problem()
    assert (problem["status"], problem["construct"], problem["position"]) == (501, construct, position)


@pytest.mark.parametrize(
    "options",
    [
        {"orderby": (odata.OrderBy("message"),)},
        {"orderby": (odata.OrderBy("_id"),)},
        {"top": 100, "skip": 9_950},
    ],
)
def test_sorting_by_text_or_id_and_paging_past_the_window_are_501(options: dict[str, Any]) -> None:
    with pytest.raises(errors.NotSupported):
        dsl(None, **options)


@pytest.mark.parametrize(
    ("filter_text", "options", "message"),
    [
        ("status eq 'high'", {}, "status is a long field"),
        ("latency gt '1'", {}, "latency is a double field"),
        ("ts ge 5", {}, "ts is a date field"),
        ("ok eq 1", {}, "ok is a boolean field"),
        ("service eq 1", {}, "service is a keyword field"),
        ("nope eq 1", {}, "unknown property 'nope'"),
        ("contains(status,'5')", {}, "needs a string property"),
        (None, {"select": ("nope",)}, "unknown property 'nope'"),
        (None, {"orderby": (odata.OrderBy("nope"),)}, "unknown property 'nope'"),
    ],
)
def test_properties_and_literals_are_checked_against_declared_fields(
    filter_text: str | None, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(errors.InvalidQuery) as caught:
        dsl(filter_text, **options)
    assert caught.value.status == 400 and message in caught.value.detail
