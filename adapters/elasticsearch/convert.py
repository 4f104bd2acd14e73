"""Elasticsearch search answers → OData rows. Pure.

A row is the hit's `_source` (nested objects stay nested: `$select=host/name` gives `{"host":
{"name": …}}`, as OData writes a selected property of a complex property) plus the document id
under the query's id property unless $select leaves it out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from adapters.elasticsearch import translate
from plugin_runtime import errors


@dataclasses.dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    total: int | None
    has_more: bool


def page(
    body: Mapping[str, Any], *, request: translate.SearchRequest, spec: translate.IndexSpec, select: Sequence[str] = ()
) -> Page:
    try:
        hits = body["hits"]["hits"]
        total = body["hits"].get("total")
        total_value = int(total["value"]) if isinstance(total, Mapping) else None
        with_id = not select or "*" in select or spec.id_property in select
        rows = []
        for hit in hits[: request.size]:
            row: dict[str, Any] = {spec.id_property: hit["_id"]} if with_id else {}
            row.update(hit.get("_source") or {})
            rows.append(row)
    except (KeyError, TypeError, ValueError) as exc:
        raise errors.BackendError(f"Elasticsearch answered a search result of an unexpected shape ({exc!r})") from None
    if request.probe:
        has_more = len(hits) > request.size
    else:
        has_more = total_value is not None and total_value > request.skip + request.size
    return Page(rows=rows, total=total_value, has_more=has_more)
