"""The absolute URLs a runtime writes into its answers — `@odata.context`, `@odata.nextLink`, the
service document's context — and where their scheme and authority come from.

Never from the request's `Host` header: any caller can send one, and a link built from it points the
next client (a dashboard following `@odata.nextLink`, a cache keyed on the answer) wherever the
forger wants. The base is the configured `RuntimeConfig.external_url` (the operator sets the plugin's
stable endpoint: its Service in Kubernetes, its stable loopback address locally); without one (a
runtime started by hand) it is the address of the socket the connection reached, which the caller
cannot choose either. Paths and query strings are the request's own.
"""

from __future__ import annotations

from starlette.datastructures import URL
from starlette.requests import Request

__all__ = ["absolute", "base"]


def base(request: Request, external_url: str | None) -> str:
    """Scheme and authority (and any path prefix of the external URL) links start with, no trailing slash."""
    if external_url:
        return external_url.rstrip("/")
    scheme = str(request.scope.get("scheme") or "http")
    server = request.scope.get("server")
    if not server:  # a Unix socket: no address of its own to name, so links stay relative
        return ""
    host, port = server[0], server[1]
    if ":" in str(host):
        host = f"[{host}]"
    default = (scheme == "http" and port == 80) or (scheme == "https" and port == 443)
    return f"{scheme}://{host}" if default or port is None else f"{scheme}://{host}:{port}"


def absolute(request: Request, external_url: str | None, url: URL | None = None) -> str:
    """`url` (default: the request's own URL) with its path and query kept and its base replaced."""
    target = url if url is not None else request.url
    query = f"?{target.query}" if target.query else ""
    return f"{base(request, external_url)}{target.path}{query}"
