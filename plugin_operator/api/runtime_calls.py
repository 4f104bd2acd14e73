"""The API's two calls to a plugin runtime: live health and dry-run translation.

Both are bounded by a short timeout because a person or a dashboard is waiting on them. A runtime
that does not answer is not an error of the API: health falls back to the last recorded document,
translation answers 503. Problems the runtime returns (400 malformed OData, 501 not expressible,
404 unknown query...) are re-raised as the same error class so the caller sees the runtime's
explanation, with our own request path as `instance`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from plugin_runtime import errors

_ERRORS_BY_STATUS: dict[int, type[errors.PluginError]] = {
    400: errors.InvalidQuery,
    404: errors.NotFound,
    501: errors.NotSupported,
    503: errors.PluginUnavailable,
    504: errors.BackendTimeout,
}
_PROBLEM_MEMBERS = {"type", "title", "status", "detail", "instance"}


def fetch_health(http: httpx.Client, endpoint: str, plugin_id: str, *, timeout: float) -> dict[str, Any] | None:
    """The runtime's health document (it answers 503 with the document when unhealthy), or None."""
    try:
        response = http.get(f"{endpoint}/plugins/{plugin_id}/health", timeout=timeout)
        body = response.json()
    except (httpx.HTTPError, ValueError):
        return None
    return body if isinstance(body, dict) else None


def translate(
    http: httpx.Client,
    endpoint: str,
    *,
    plugin_id: str,
    query_id: str,
    options: Mapping[str, str],
    timeout: float,
) -> dict[str, Any]:
    """The adapter's Translation JSON ({language, query, endpoint}) for `options` on `query_id`."""
    try:
        response = http.get(f"{endpoint}/queries/{query_id}/translate", params=dict(options), timeout=timeout)
    except httpx.TimeoutException:
        raise errors.PluginUnavailable(
            f"plugin {plugin_id!r}: the runtime did not answer within {timeout:g} s", retry_after=timeout
        ) from None
    except httpx.HTTPError as exc:
        raise errors.PluginUnavailable(
            f"plugin {plugin_id!r}: the runtime is unreachable ({type(exc).__name__})"
        ) from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code == 200 and isinstance(body, dict) and "language" in body and "query" in body:
        return body
    raise _runtime_problem(plugin_id, response.status_code, body)


def _runtime_problem(plugin_id: str, status: int, body: Any) -> errors.PluginError:
    problem = body if isinstance(body, dict) else {}
    detail = str(problem.get("detail") or f"the runtime answered {status}")
    error_class = _ERRORS_BY_STATUS.get(status, errors.BackendError)
    extensions = {key: value for key, value in problem.items() if key not in _PROBLEM_MEMBERS}
    if error_class is errors.BackendError:
        detail = f"plugin {plugin_id!r}: the runtime answered {status}: {detail}"
    return error_class(detail, **extensions)
