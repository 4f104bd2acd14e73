"""GraphQL answers → OData rows. Pure.

An answer with `errors` is the backend's refusal (GraphQL answers them with HTTP 200): a 502
quoting its messages. Rows are the selected leaf fields of each item, in the selection's order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters._common import results
from adapters.graphql import translate
from plugin_runtime import errors, odata

_MESSAGES = 3


def error_messages(body: Any) -> str | None:
    """The first messages of a GraphQL `errors` list, with their paths."""
    problems = body.get("errors") if isinstance(body, Mapping) else None
    if not isinstance(problems, list) or not problems:
        return None
    texts = []
    for problem in problems[:_MESSAGES]:
        if isinstance(problem, Mapping):
            path = problem.get("path")
            where = f" (at {'.'.join(map(str, path))})" if isinstance(path, list) else ""
            texts.append(f"{problem.get('message', 'error')}{where}")
    return "; ".join(texts) or None


def page(body: Any, request: translate.GraphQLRequest) -> results.Page:
    message = error_messages(body)
    if message is not None:
        raise errors.BackendError(f"the GraphQL API refused the query: {message}", backend="GraphQL API")
    spec = request.spec
    try:
        value = body["data"][spec.field]
        items = value[spec.items] if spec.items else value
        total = int(value[spec.total]) if spec.items and spec.total else None
        rows = [dict(item) for item in items]
    except (KeyError, TypeError, ValueError) as exc:
        raise errors.BackendError(f"the GraphQL API answered in an unexpected shape ({exc!r})") from None
    if request.local is not None:  # every row was fetched: order, page, select and count here
        shaped, counted, has_more = odata.shape_rows(rows, request.local)
        return results.Page(rows=shaped, total=counted if total is None else total, has_more=has_more)
    rows = rows[request.drop :]
    has_more = False
    if request.size is not None:
        if request.probe:
            has_more = len(rows) > request.size
        else:
            has_more = total is not None and total > request.skip + request.size
        rows = rows[: request.size]
    return results.Page(
        rows=[{name: row.get(name) for name in request.selection} for row in rows], total=total, has_more=has_more
    )
