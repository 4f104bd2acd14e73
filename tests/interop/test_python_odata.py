"""python-odata (a real OData v4 client) consumes the example plugins' services, checked against their backends.

What python-odata cannot do, so the tests do not ask it to: it has no Edm.Double (a Double property
is typed as a string, so `entity.cpu_usage > 80` would compare with '80'; such filters are written
as text), drops properties its entity types do not declare (open types' dynamic properties), and
reads our RFC 7807 problems only as "HTTP 400" plus the status line (it looks for OData error bodies).
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from odata import ODataService
from odata.exceptions import ODataError

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
