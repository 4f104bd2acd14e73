"""The built-in local datasource plugin end to end over HTTP, checked against the bundled CSV itself."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
from collections.abc import Callable
from importlib import resources
from typing import Any

import pytest

from adapters.localsql import translate
from adapters.localsql.plugin import LocalSqlPlugin
from devservices import postgres
from plugin_runtime import interface, odata

from .conftest import Serve
from .support import Runtime

QUERY = "gts.hypernetix.hyperspot.ax.query.v1~hyperspot.tests._.server_metrics.v1"


def query_config(**options: Any) -> dict[str, Any]:
    return {
        "id": QUERY,
        "name": "Server metrics",
        "category": "monitoring",
        "api_endpoint": "/servers/metrics",
        "capabilities_id": "gts.hypernetix.hyperspot.ax.query_capabilities.v1~hyperspot.tests._.default.v1",
        "returns_schema_id": "gts.hypernetix.hyperspot.ax.schema.v1~hyperspot.tests._.server_metrics.v1~",
        "options": options,
    }


def localsql(settings: dict[str, Any] | None = None, **entry: Any) -> dict[str, Any]:
    plugin = {
        "id": "local",
        "version": "0.1.0",
        "adapter": "localsql",
        "settings": settings or {},
        "queries": [query_config()],
    }
    return {"plugins": [plugin | entry]}


def sample() -> list[dict[str, Any]]:
    """The bundled rows, typed independently of the plugin's own conversion code."""
    text = resources.files("adapters.localsql").joinpath("sample_data.csv").read_text()
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
        for row in csv.DictReader(text.splitlines())
    ]


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


FILTERS: list[tuple[str, Callable[[dict[str, Any]], bool]]] = [
    ("contains(host,'web')", lambda r: "web" in r["host"]),
    ("contains(host,'_')", lambda r: "_" in r["host"]),  # '_' is no LIKE wildcard here
    (
        "startswith(host,'api') and region eq 'us-east'",
        lambda r: r["host"].startswith("api") and r["region"] == "us-east",
    ),
    ("endswith(host,'-01')", lambda r: r["host"].endswith("-01")),
    ("region in ('eu-west','ap-south')", lambda r: r["region"] in ("eu-west", "ap-south")),
    ("cpu_usage gt 60 or memory_mb lt 1700", lambda r: r["cpu_usage"] > 60 or r["memory_mb"] < 1700),
    (
        "not (environment eq 'prod') and cpu_usage ge 20.5",
        lambda r: r["environment"] != "prod" and r["cpu_usage"] >= 20.5,
    ),
    (
        "(region eq 'eu-west' or region eq 'us-east') and not contains(host,'02')",
        lambda r: r["region"] in ("eu-west", "us-east") and "02" not in r["host"],
    ),
    (
        "timestamp ge 2024-03-02T00:00:00Z and timestamp lt 2024-03-02T06:00:00Z",
        lambda r: at("2024-03-02T00:00:00Z") <= r["timestamp"] < at("2024-03-02T06:00:00Z"),
    ),
    ("timestamp le 2024-03-01T03:00:00+01:00", lambda r: r["timestamp"] <= at("2024-03-01T02:00:00Z")),
    ("timestamp gt 2024-03-02T20:00:00Z", lambda r: r["timestamp"] > at("2024-03-02T20:00:00Z")),
    (
        "year(timestamp) eq 2024 and day(timestamp) eq 2 and hour(timestamp) eq 10",
        lambda r: r["timestamp"].day == 2 and r["timestamp"].hour == 10,
    ),
    (
        "tolower(toupper(environment)) eq 'staging' and length(host) eq 8",
        lambda r: r["environment"] == "staging" and len(r["host"]) == 8,
    ),
    (
        "memory_mb mod 2 eq 0 and floor(cpu_usage) ge 50",
        lambda r: r["memory_mb"] % 2 == 0 and int(r["cpu_usage"]) >= 50,
    ),
    ("host ne 'db-01' and cpu_usage add 10 gt 90", lambda r: r["host"] != "db-01" and r["cpu_usage"] + 10 > 90),
]


def ids(runtime: Runtime, **options: str) -> list[int]:
    response = runtime.get(f"/queries/{QUERY}", params={f"${k}": v for k, v in options.items()})
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()["value"]]


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return sample()


def test_filters_select_exactly_the_matching_rows(serve: Serve, rows: list[dict[str, Any]]) -> None:
    with serve(localsql()) as runtime:
        for text, predicate in FILTERS:
            expected = [r["id"] for r in rows if predicate(r)]
            assert expected, f"{text} matches nothing in the sample: a useless case"
            assert ids(runtime, filter=text, select="id", top="1000") == expected, text


def test_select_orderby_top_skip_count(serve: Serve, rows: list[dict[str, Any]]) -> None:
    with serve(localsql()) as runtime:
        response = runtime.get(
            "/servers/metrics",
            params={
                "$filter": "region eq 'us-east'",
                "$orderby": "cpu_usage desc,id",
                "$top": "5",
                "$skip": "3",
                "$count": "true",
                "$select": "host,cpu_usage,timestamp",
            },
        )
        body = response.json()
        matching = sorted((r for r in rows if r["region"] == "us-east"), key=lambda r: (-r["cpu_usage"], r["id"]))
        assert body["@odata.count"] == len(matching)
        assert body["value"] == [
            {"host": r["host"], "cpu_usage": r["cpu_usage"], "timestamp": r["timestamp"].strftime("%Y-%m-%dT%H:%M:%SZ")}
            for r in matching[3:8]
        ]
        assert body["@odata.context"].endswith("/$metadata#server_metrics")
        assert "@odata.nextLink" not in body  # $top limits the result: it is complete


def test_default_page_size_pages_through_every_row_once(serve: Serve, rows: list[dict[str, Any]]) -> None:
    with serve(localsql({"page_size": 50})) as runtime:
        body = runtime.get(f"/queries/{QUERY}", params={"$select": "id"}).json()
        seen = [row["id"] for row in body["value"]]
        assert len(seen) == 50
        while "@odata.nextLink" in body:
            body = runtime.client.get(body["@odata.nextLink"]).json()
            seen += [row["id"] for row in body["value"]]
        assert seen == [r["id"] for r in rows]


@pytest.mark.parametrize(
    ("params", "status", "fragment"),
    [
        ({"$filter": "cpu eq 1"}, 400, "unknown property 'cpu'"),
        ({"$select": "host,nope"}, 400, "$select: unknown property 'nope'"),
        ({"$orderby": "nope desc"}, 400, "$orderby: unknown property 'nope'"),
        ({"$filter": "contains(host, region)"}, 400, "contains() needs a string literal"),
        ({"$filter": "cpu_usage eq '12.5'"}, 400, "a string is compared with an Edm.Double"),
        ({"$filter": "id in (1, '2')"}, 400, "a string is compared with an Edm.Int64"),
        ({"$filter": "startswith(memory_mb, '5')"}, 400, "startswith() takes a string, not an Edm.Int64"),
        ({"$filter": "concat(host,'x') eq 'web-01x'"}, 501, "cannot translate 'concat('"),
        ({"$filter": "indexof(host,'b') eq 1"}, 501, "cannot translate 'indexof('"),
        ({"$filter": "tags/any(t: t eq 'a')"}, 501, "one table has no navigation"),
    ],
)
def test_what_cannot_be_answered_is_refused_with_the_reason(
    serve: Serve, params: dict[str, str], status: int, fragment: str
) -> None:
    with serve(localsql()) as runtime:
        response = runtime.get(f"/queries/{QUERY}", params=params)
        assert response.status_code == status
        assert fragment in response.json()["detail"]


def test_translate_shows_the_sql_and_bound_parameters(serve: Serve) -> None:
    with serve(localsql()) as runtime:
        body = runtime.get(
            f"/queries/{QUERY}/translate",
            params={"$filter": "cpu_usage gt 90 and timestamp lt 2024-03-01T12:00:00Z", "$count": "true"},
        ).json()
        assert body["language"] == "sql" and body["endpoint"] == "sqlite://#server_metrics"
        assert "WHERE server_metrics.cpu_usage > ? AND server_metrics.timestamp < ?" in body["query"]["sql"]
        assert list(body["query"]["params"].values())[:2] == [90, "2024-03-01T12:00:00"]
        assert body["query"]["count_sql"].startswith("SELECT count(*)")


def test_metadata_describes_the_table(serve: Serve) -> None:
    with serve(localsql()) as runtime:
        schema = runtime.get("/$metadata", headers={"Accept": "application/json"}).json()["HyperSpot.Analytics"]
        row_type = schema["ServerMetricsRow"]
        assert row_type["$Key"] == ["id"]
        assert {name: spec["$Type"] for name, spec in row_type.items() if not name.startswith("$")} == {
            "id": "Edm.Int64",
            "host": "Edm.String",
            "region": "Edm.String",
            "environment": "Edm.String",
            "cpu_usage": "Edm.Double",
            "memory_mb": "Edm.Int64",
            "timestamp": "Edm.DateTimeOffset",
        }
        entity_set = schema["Queries"]["server_metrics"]
        assert entity_set["@Org.OData.Capabilities.V1.FilterFunctions"] == list(translate.FILTER_FUNCTIONS)
        assert entity_set["@Org.OData.Capabilities.V1.TopSupported"] is True
        health = runtime.get("/plugins/local/health").json()
        assert health["dependencies"][0]["name"] == "database (sqlite)" and health["status"] == "healthy"


#: One filter per advertised function, each true for the single seeded row below.
ADVERTISED = {
    "contains": "contains(s,'bc')",
    "startswith": "startswith(s,'Ab')",
    "endswith": "endswith(s,'c ')",
    "tolower": "tolower(s) eq 'abc '",
    "toupper": "toupper(s) eq 'ABC '",
    "length": "length(s) eq 4",
    "trim": "trim(s) eq 'Abc'",
    "substring": "substring(s,1,2) eq 'bc'",
    "matchesPattern": "matchesPattern(s,'^A.c')",
    "year": "year(d) eq 2024",
    "month": "month(d) eq 3",
    "day": "day(d) eq 2",
    "hour": "hour(d) eq 4",
    "minute": "minute(d) eq 5",
    "second": "second(d) eq 6",
    "floor": "floor(x) eq 1",
    "ceiling": "ceiling(x) eq 2",
}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_every_advertised_function_works_on_both_backends(backend: str) -> None:
    assert set(ADVERTISED) == set(translate.FILTER_FUNCTIONS)
    settings = {
        "table": "fn_check",
        "columns": {"s": "string", "x": "number", "d": "datetime"},
        "seed": [{"s": "Abc ", "x": 1.5, "d": "2024-03-02T04:05:06Z"}],
    }
    with contextlib.ExitStack() as stack:
        secrets = (
            {"database_url": stack.enter_context(postgres.temporary_schema_url())} if backend == "postgresql" else {}
        )
        plugin = LocalSqlPlugin()
        plugin.init(
            interface.PluginConfig(
                settings=settings, queries=(interface.QueryDefinition(**query_config()),), secrets=secrets
            )
        )
        stack.callback(plugin.shutdown)
        for name, text in ADVERTISED.items():
            result = plugin.execute_query(interface.SecurityCtx("t"), QUERY, odata.parse_params({"$filter": text}))
            assert len(result.rows) == 1, f"{name}: {text}"
            negated = plugin.execute_query(
                interface.SecurityCtx("t"), QUERY, odata.parse_params({"$filter": f"not ({text})"})
            )
            assert negated.rows == (), f"{name}: not ({text})"


def test_seed_into_postgresql_through_a_secret_database_url(serve: Serve) -> None:
    settings = {
        "table": "deployments",
        "columns": {"service": "string", "healthy": "boolean", "replicas": "integer", "at": "datetime", "day": "date"},
        "key": ["service"],
        "seed": [
            {"service": "api", "healthy": True, "replicas": 3, "at": "2024-05-01T10:00:00Z", "day": "2024-05-01"},
            {"service": "web", "healthy": False, "replicas": 1, "at": "2024-05-02T12:30:00+02:00", "day": "2024-05-02"},
            {"service": "etl", "healthy": True, "replicas": None, "at": "2024-05-03T00:00:00Z", "day": "2024-05-03"},
        ],
    }
    with postgres.temporary_schema_url() as url:
        config = localsql(settings, secret_env={"database_url": "LOCALSQL_DATABASE_URL"})
        with serve(config, environ={"LOCALSQL_DATABASE_URL": url}) as runtime:
            body = runtime.get(
                f"/queries/{QUERY}",
                params={"$filter": "healthy eq true and at lt 2024-05-03T00:00:00Z", "$count": "true"},
            ).json()
            assert body["@odata.count"] == 1
            assert body["value"] == [
                {"service": "api", "healthy": True, "replicas": 3, "at": "2024-05-01T10:00:00Z", "day": "2024-05-01"}
            ]
            web = runtime.get(f"/queries/{QUERY}", params={"$filter": "service eq 'web'", "$select": "at"}).json()
            assert web["value"] == [{"at": "2024-05-02T10:30:00Z"}]  # stored as UTC
            nulls = runtime.get(
                f"/queries/{QUERY}", params={"$filter": "replicas eq null", "$select": "service"}
            ).json()
            assert nulls["value"] == [{"service": "etl"}]
            translation = runtime.get(f"/queries/{QUERY}/translate").json()
            assert translation["endpoint"].startswith("postgresql+psycopg://postgres@")
            assert runtime.get("/plugins/local/health").json()["dependencies"][0]["name"] == "database (postgresql)"


def test_bad_settings_fail_init_with_a_clear_message(serve: Serve) -> None:
    with serve(localsql({"table": "x; drop table y"}) | {"drain_seconds": 0.1}) as runtime:
        error = runtime.get("/metadata").json()["plugins"][0]["last_reload_error"]
        assert error["stage"] == "init" and "settings of the localsql plugin: table" in error["message"]
    with serve(localsql({"seed": [{"a": 1}]})) as runtime:
        error = runtime.get("/metadata").json()["plugins"][0]["last_reload_error"]
        assert error["message"] == "settings.columns is required with settings.seed (name → type)"
    with serve(localsql({"database_url": "nosuchdb://h/db"})) as runtime:
        error = runtime.get("/metadata").json()["plugins"][0]["last_reload_error"]
        assert error["message"].startswith("database_url of the localsql plugin: Can't load plugin")
    with serve(localsql({"database_url": "postgresql+psycopg://postgres@127.0.0.1:1/test"})) as runtime:
        error = runtime.get("/metadata").json()["plugins"][0]["last_reload_error"]
        assert error["message"].startswith("database of the localsql plugin: OperationalError: connection")
