"""Process endpoints for probes and scraping: `/healthz`, `/readyz`, `/metrics` (unauthenticated).

`/readyz` answers 503 while the database is unreachable, so Kubernetes stops routing API traffic
to an operator that could not serve it; `/healthz` only says the process is up (restarting the
operator would not bring the database back).
"""

import fastapi
import prometheus_client
from fastapi.responses import Response

from plugin_operator.api import problems, schemas
from plugin_operator.api.deps import ApiDeps


def router(deps: ApiDeps) -> fastapi.APIRouter:
    api = fastapi.APIRouter(tags=["operations"])

    @api.get("/healthz", response_model=schemas.ProcessStatus, summary="The process is up")
    def healthz() -> schemas.ProcessStatus:
        return schemas.ProcessStatus(status="ok")

    @api.get(
        "/readyz",
        response_model=schemas.ProcessStatus,
        responses=problems.responses(503),
        summary="Ready to serve: the database answers",
    )
    def readyz() -> schemas.ProcessStatus:
        deps.database.ping()
        return schemas.ProcessStatus(status="ready")

    @api.get(
        "/metrics",
        response_class=Response,
        responses={
            200: {"content": {prometheus_client.CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}}
        },
        summary="Prometheus metrics of the operator process",
    )
    def metrics() -> Response:
        return Response(prometheus_client.generate_latest(), media_type=prometheus_client.CONTENT_TYPE_LATEST)

    return api
