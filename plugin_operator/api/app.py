"""`create_app(deps)`: the management REST API as one FastAPI application.

The OpenAPI document is served at /api/analytics/v1/openapi.json and the docs at
/api/analytics/v1/docs; every error response in it is an RFC 7807 problem
(application/problem+json), which is what the API actually sends.
"""

from __future__ import annotations

from typing import Any

import fastapi

from plugin_operator import security
from plugin_operator.api import (
    body_limit,
    metrics,
    params,
    routes_gts,
    routes_history,
    routes_keys,
    routes_ops,
    routes_plugins,
)
from plugin_operator.api.access import Access, Auditor
from plugin_operator.api.deps import PREFIX, ApiDeps
from plugin_runtime import problems


def create_app(deps: ApiDeps) -> fastapi.FastAPI:
    app = fastapi.FastAPI(
        title="HyperSpot Analytics — plugin management API",
        version="1.0.0",
        description="Plugins (query adapters and datasource plugins): inspect, check health, preview "
        "translations, enable/disable/reload/unregister; GTS entities they registered.",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
        dependencies=[fastapi.Depends(params.documented_query_only)],
    )
    # What the routes' dependencies read (`deps.Deps`, `access.require`): routes are module-level functions.
    app.state.deps = deps
    app.state.access = Access(security.TokenVerifier(deps.auth), Auditor(deps.database))
    # The prefix belongs to the routers (not `include_router`) so route templates carry it (metrics labels).
    app.include_router(routes_plugins.router)
    app.include_router(routes_keys.router)
    app.include_router(routes_gts.router)
    app.include_router(routes_history.router)
    app.state.readiness_pinger = routes_ops.readiness_pinger()
    app.include_router(routes_ops.router)
    problems.install(app, server="operator", challenge=security.challenge)
    app.add_middleware(metrics.RequestMetrics)
    app.add_middleware(body_limit.BodyLimit)  # added last: outermost, before authentication

    def openapi() -> dict[str, Any]:
        return problems.document(fastapi.FastAPI.openapi(app))

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the schema
    return app
