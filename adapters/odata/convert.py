"""Upstream OData v4 pages → rows. Pure.

The rows keep their properties but lose instance and property annotations (`@odata.etag`,
`name@odata.type`, …): those describe the upstream service, and the runtime writes this service's
own context and links around the rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from plugin_runtime import errors


@dataclasses.dataclass(frozen=True)
class UpstreamPage:
    rows: list[dict[str, Any]]
    count: int | None
    next_link: str | None


def _strip_annotations(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _strip_annotations(item) for key, item in value.items() if "@" not in key}
    if isinstance(value, list):
        return [_strip_annotations(item) for item in value]
    return value


def page(body: Any) -> UpstreamPage:
    if not isinstance(body, Mapping) or not isinstance(body.get("value"), list):
        raise errors.BackendError("the upstream OData service answered without a 'value' collection")
    rows = []
    for item in body["value"]:
        if not isinstance(item, Mapping):
            raise errors.BackendError("the upstream OData service answered a collection of non-entities")
        rows.append(_strip_annotations(item))
    count = body.get("@odata.count")
    next_link = body.get("@odata.nextLink")
    return UpstreamPage(
        rows=rows,
        count=int(count) if isinstance(count, (int, str)) and str(count).isdigit() else None,
        next_link=next_link if isinstance(next_link, str) and next_link else None,
    )


def _error_text(error: Mapping[str, Any]) -> str | None:
    message = error.get("message")
    if isinstance(message, Mapping):  # OData 4.0 JSON Verbose style: {"lang": …, "value": …}
        message = message.get("value")
    parts = [str(error[name]) for name in ("code",) if error.get(name)]
    if message:
        parts.append(str(message))
    text = ": ".join(parts) or None
    if text and error.get("target"):
        text += f" (target: {error['target']})"
    return text


def error_message(body: Any) -> str | None:
    """The text of an OData error body: `code: message (target: t)`, then each detail the same way.

    {"error": {"code": …, "message": …, "target": …, "details": [{"code": …, "message": …, "target": …}]}}
    """
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return None
    text = _error_text(error)
    details = error.get("details")
    if isinstance(details, list):
        extra = [item for item in (_error_text(d) for d in details if isinstance(d, Mapping)) if item]
        if extra:
            text = "; ".join([text or "error", *extra])
    return text
