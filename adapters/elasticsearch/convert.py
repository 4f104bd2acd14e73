"""Elasticsearch search answers → OData rows. Pure.

A row is the hit's `_source` (nested objects stay nested: `$select=host/name` gives `{"host":
{"name": …}}`, as OData writes a selected property of a complex property) plus the document id
under the query's id property unless $select leaves it out. Field names that are not OData
identifiers get their property names (`@timestamp` → `timestamp`, `host.name` → `host_name`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from adapters._common import results
from adapters.elasticsearch import translate
from plugin_runtime import errors, names


def _lookup(source: Mapping[str, Any], field: str) -> Any:
    """A dotted field's value, whether the document holds it as `{"a.b": v}` or `{"a": {"b": v}}`."""
    if field in source:
        return source[field]
    head, dot, rest = field.partition(".")
    inner = source.get(head) if dot else None
    return _lookup(inner, rest) if isinstance(inner, Mapping) else None


def properties(source: Mapping[str, Any], spec: translate.IndexSpec) -> dict[str, Any]:
    """A document's fields under their OData property names (`@timestamp` → `timestamp`, see
    plugin_runtime.names); renamed dotted fields are read from nested objects too."""
    row = {names.property_name(key): value for key, value in source.items()}
    for prop, field in spec.renamed:
        if prop not in row and "." in field:
            found = _lookup(source, field)
            if found is not None:
                row[prop] = found
    return row


def page(
    body: Mapping[str, Any], *, request: translate.SearchRequest, spec: translate.IndexSpec, select: Sequence[str] = ()
) -> results.Page:
    try:
        hits = body["hits"]["hits"]
        total = body["hits"].get("total")
        total_value = int(total["value"]) if isinstance(total, Mapping) else None
        with_id = not select or "*" in select or spec.id_property in select
        rows = []
        for hit in hits[: request.size]:
            row: dict[str, Any] = {spec.id_property: hit["_id"]} if with_id else {}
            row.update(properties(hit.get("_source") or {}, spec))
            rows.append(row)
    except (KeyError, TypeError, ValueError) as exc:
        raise errors.BackendError(f"Elasticsearch answered a search result of an unexpected shape ({exc!r})") from None
    if request.probe:
        has_more = len(hits) > request.size
    else:
        has_more = total_value is not None and total_value > request.skip + request.size
    return results.Page(rows=rows, total=total_value, has_more=has_more)
