"""python-odata (a real OData v4 client) consumes the example plugins' services, checked against their backends.

What python-odata cannot do, so the tests do not ask it to: it has no Edm.Double (a Double property
is typed as a string, so `entity.cpu_usage > 80` would compare with '80'; such filters are written
as text), drops properties its entity types do not declare (open types' dynamic properties), and
reads our RFC 7807 problems only as "HTTP 400" plus the status line (it looks for OData error bodies).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from odata import ODataService
from odata.exceptions import ODataError

from devservices.prometheus import running_prometheus
from tests.adapters import dataset, servers

from .conftest import ServeExample

SAMPLE = Path(__file__).resolve().parents[2] / "adapters" / "localsql" / "sample_data.csv"


def backend_rows() -> list[dict[str, Any]]:
    """The example's table straight from its CSV, typed independently of the plugin."""
    return [
        {
            "id": int(row["id"]),
            "host": row["host"],
            "region": row["region"],
            "environment": row["environment"],
            "cpu_usage": float(row["cpu_usage"]),
            "memory_mb": int(row["memory_mb"]),
            "timestamp": dt.datetime.fromisoformat(row["timestamp"]),
        }
        for row in csv.DictReader(SAMPLE.open(encoding="utf-8"))
    ]


def service(url: str) -> ODataService:
    return ODataService(url, reflect_entities=True, quiet_progress=True)


@pytest.mark.parametrize("root", ["/odata", "/plugins/sample-metrics/odata"])
def test_python_odata_reads_metadata_filters_orders_pages_and_counts(serve_example: ServeExample, root: str) -> None:
    rows = backend_rows()
    with serve_example("sample-metrics", page_size=40) as runtime:
        odata = service(runtime.url + root)
        Metrics = odata.entities["server_metrics"]
        schema = Metrics.__odata_schema__  # what python-odata read from the CSDL XML
        assert {p["name"]: p["type"] for p in schema["properties"]} == {
            "id": "Edm.Int64",
            "host": "Edm.String",
            "region": "Edm.String",
            "environment": "Edm.String",
            "cpu_usage": "Edm.Double",
            "memory_mb": "Edm.Int64",
            "timestamp": "Edm.DateTimeOffset",
        }
        assert [p["name"] for p in schema["properties"] if p["is_primary_key"]] == ["id"]

        # $filter + $orderby + $top + $skip: the client sets $top, so no paging is involved.
        query = (
            odata.query(Metrics)
            .filter(Metrics.region == "us-east")
            .filter(Metrics.environment != "staging")
            .order_by(Metrics.memory_mb.desc())
            .limit(7)
            .offset(3)
        )
        got = [(m.id, m.host, m.memory_mb, m.timestamp) for m in query.all()]
        wanted = sorted(
            (r for r in rows if r["region"] == "us-east" and r["environment"] != "staging"),
            key=lambda r: (-r["memory_mb"], r["id"]),
        )[3:10]
        assert got == [(r["id"], r["host"], r["memory_mb"], r["timestamp"]) for r in wanted]

        # Lookup by key: python-odata asks `$filter=id eq 5` (addressing `server_metrics(5)` is 501 here).
        five = odata.query(Metrics).get(5)
        assert (five.id, five.host) == (5, rows[4]["host"])

        # $count of the filtered set ({set}/$count).
        count = odata.query(Metrics).filter(Metrics.host.startswith("web")).count()
        assert count == sum(r["host"].startswith("web") for r in rows)

        # No $top: the client follows the server's next links (page size 40) to the last row, once each.
        everything = odata.query(Metrics).order_by(Metrics.id.asc()).all()
        assert [m.id for m in everything] == [r["id"] for r in rows] and len(rows) > 40

        # A filter python-odata cannot type (Edm.Double), written as text; paged the same way.
        busy = [m.id for m in odata.query(Metrics).filter("cpu_usage gt 80").order_by(Metrics.id.asc()).all()]
        assert busy == [r["id"] for r in rows if r["cpu_usage"] > 80]


def test_python_odata_sees_top_as_the_result_even_beyond_a_page(serve_example: ServeExample) -> None:
    rows = backend_rows()
    with serve_example("sample-metrics", page_size=40) as runtime:
        odata = service(runtime.url + "/odata")
        Metrics = odata.entities["server_metrics"]
        # python-odata does not follow next links when it set $top itself: a result within one page is whole.
        ten = odata.query(Metrics).order_by(Metrics.id.desc()).limit(10).all()
        assert [m.id for m in ten] == [r["id"] for r in rows][::-1][:10]
        raw = odata.query(Metrics).raw({"$top": "60", "$orderby": "id"})
        assert len(raw) == 40  # one server page of a 60-row result; the rest is behind @odata.nextLink


def test_python_odata_reports_the_problem_of_a_bad_request(serve_example: ServeExample) -> None:
    with serve_example("sample-metrics") as runtime:
        odata = service(runtime.url + "/odata")
        Metrics = odata.entities["server_metrics"]
        with pytest.raises(ODataError) as caught:
            odata.query(Metrics).filter("nope eq 1").all()
        assert caught.value.status_code == "HTTP 400"


RANGE = "timestamp ge 2023-11-14T22:13:20Z and timestamp le 2023-11-14T22:33:20Z"


@pytest.fixture(scope="module")
def prometheus_url() -> Iterator[str]:
    with running_prometheus(dataset.openmetrics()) as url:
        yield url


def direct_promql(prometheus_url: str, query: str) -> list[tuple[dict[str, str], list[tuple[dt.datetime, float]]]]:
    """The same range straight from Prometheus' HTTP API: (labels, [(time, value)]) per series."""
    answer = httpx.post(
        f"{prometheus_url}/api/v1/query_range",
        data={"query": query, "start": "1700000000", "end": "1700001200", "step": "60"},
    ).json()
    assert answer["status"] == "success"
    return [
        (
            series["metric"],
            [(dt.datetime.fromtimestamp(float(at), dt.UTC), float(value)) for at, value in series["values"]],
        )
        for series in answer["data"]["result"]
    ]


def test_python_odata_consumes_the_prometheus_example(serve_example: ServeExample, prometheus_url: str) -> None:
    queue = "queue eq 'orders.us/east'"
    with serve_example("prometheus-adapter", base_url=prometheus_url, page_size=7) as runtime:
        odata = service(runtime.url + "/plugins/prometheus-adapter/odata")
        assert set(odata.entities) == {"cpu_usage", "series"}
        Series = odata.entities["series"]
        selected = f"metric eq 'queue_depth' and {queue} and {RANGE}"
        query = odata.query(Series).filter(selected).order_by(Series.timestamp.asc())
        got = [(m.timestamp, float(m.value)) for m in query.all()]  # 21 samples through 7-row pages
        [(labels, expected)] = direct_promql(prometheus_url, 'queue_depth{queue="orders.us/east"}')
        assert labels["queue"] == "orders.us/east"
        assert got == expected and len(got) == 21
        assert odata.query(Series).filter(selected).count() == 21
        everything = odata.query(Series).filter(f"metric eq 'queue_depth' and {RANGE}").count()
        assert everything == sum(len(values) for _, values in direct_promql(prometheus_url, "queue_depth"))
        top = odata.query(Series).filter(selected).order_by(Series.value.desc()).limit(3).offset(1)
        assert [float(m.value) for m in top.all()] == sorted((v for _, v in expected), reverse=True)[1:4]
        # The label is an open (dynamic) property: python-odata drops it from its entities.
        assert not hasattr(query.first(), "queue")


ITEMS = [
    {"id": n, "attributes": {"name": f"item {n:02d}", "category": ("tools", "toys")[n % 2], "price": 2.5 * n}}
    for n in range(1, 31)
]


def items_api(request: servers.Request) -> servers.Reply:
    """The REST example's API: /api/items?limit&offset&category → {data, meta: {total}}."""
    if request.path == "/api/health":
        return servers.Reply(200, {"status": "ok"})
    args = request.args
    chosen = [item for item in ITEMS if args.get("category") in (None, item["attributes"]["category"])]
    offset, limit = int(args.get("offset", "0")), int(args.get("limit", "100"))
    return servers.Reply(200, {"data": chosen[offset : offset + limit], "meta": {"total": len(chosen)}})


def test_python_odata_consumes_the_rest_example(serve_example: ServeExample) -> None:
    with servers.serving(items_api) as api, serve_example("rest-items", base_url=f"{api.url}/api", page_size=4) as rt:
        odata = service(rt.url + "/plugins/rest-items/odata")
        Items = odata.entities["items"]
        toys = [(i.id, i.name, i.price) for i in odata.query(Items).filter(Items.category == "toys").all()]
        expected = [(i["id"], i["attributes"]["name"], i["attributes"]["price"]) for i in ITEMS if i["id"] % 2]
        assert toys == expected  # 15 rows through 4-row pages: the API was asked page by page
        assert {r.args["limit"] for r in api.requests if r.path == "/api/items"} == {"4"}
        assert odata.query(Items).filter(Items.category == "tools").count() == 15
        window = odata.query(Items).filter(Items.category == "tools").limit(3).offset(2).all()
        assert [i.id for i in window] == [6, 8, 10]


def test_the_prometheus_examples_declared_key_reaches_python_odata(
    serve_example: ServeExample, prometheus_url: str
) -> None:
    with serve_example("prometheus-adapter", base_url=prometheus_url) as runtime:
        odata = service(runtime.url + "/plugins/prometheus-adapter/odata")
        schema = odata.entities["cpu_usage"].__odata_schema__
        keys = [p["name"] for p in schema["properties"] if p["is_primary_key"]]
        assert keys == ["instance", "cpu", "mode", "timestamp"]
