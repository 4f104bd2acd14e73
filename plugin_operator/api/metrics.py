"""Request count and latency of the management API, by method, route template and status.

Route templates (not raw paths) keep the label set bounded whatever ids callers send.
"""

from __future__ import annotations

import time

import prometheus_client
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = prometheus_client.Counter(
    "plugin_operator_api_requests",
    "Management API requests by method, route template and response status.",
    ["method", "route", "status"],
)
LATENCY = prometheus_client.Histogram(
    "plugin_operator_api_request_duration_seconds",
    "Management API request latency by method and route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


class RequestMetrics:
    """ASGI middleware; a request that dies with an exception counts as 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(scope["method"], route).observe(time.perf_counter() - started)
