"""The one mapping of backend field names to OData property names, as the Elasticsearch and REST adapters use it."""

from __future__ import annotations

import pytest

from adapters.elasticsearch import convert
from adapters.elasticsearch.plugin import QueryOptions
from adapters.rest import convert as rest_convert
from adapters.rest.plugin import QueryOptions as RestOptions
from plugin_runtime import names


@pytest.mark.parametrize(
    ("field", "prop"),
    [
        ("host", "host"),
        ("_id", "_id"),
        ("@timestamp", "timestamp"),
        ("host.name", "host_name"),
        ("user-agent", "user_agent"),
        ("2xx", "_2xx"),
        ("@@a.b", "a_b"),
    ],
)
def test_property_names(field: str, prop: str) -> None:
    assert names.property_name(field) == prop
    assert names.is_identifier(prop)


def test_rows_carry_property_names_and_read_dotted_fields_from_objects() -> None:
    spec = QueryOptions.model_validate(
        {"index": "logs", "fields": {"host.name": "keyword", "@timestamp": "date"}}
    ).spec()
    row = convert.properties({"@timestamp": "2024-01-01T00:00:00Z", "host": {"name": "web-1"}, "a-b": 1}, spec)
    assert row == {"timestamp": "2024-01-01T00:00:00Z", "host": {"name": "web-1"}, "host_name": "web-1", "a_b": 1}
    flat = convert.properties({"host.name": "web-2"}, spec)
    assert flat == {"host_name": "web-2"}


def test_rest_rows_and_field_names_follow_the_mapping() -> None:
    rows = rest_convert.rows({"data": [{"@ts": 1, "user-agent": "x", "ok": True}]}, rows_path="$.data", fields={})
    assert rows == [{"ts": 1, "user_agent": "x", "ok": True}]
    with pytest.raises(ValueError, match="'@ts' is not an OData property name; try 'ts'"):
        RestOptions.model_validate({"url": "/items", "fields": {"@ts": "ts"}})
