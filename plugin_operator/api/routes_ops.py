"""Process endpoints for probes and scraping: `/healthz`, `/readyz`, `/metrics` (unauthenticated).

Both probes are `async` and run on the server's event loop, never in the thread pool that the API's
calls to plugin runtimes and the database share: a hung runtime can fill that pool, and a liveness
probe queued behind it would get a healthy operator restarted.

- `/healthz` (liveness) fails only when restarting helps: reconciling stopped (kopf died, e.g. it
  could not log in) or this replica lost the leadership it held.
- `/readyz` (readiness) fails while this replica cannot serve: the database does not answer within
  `readiness_timeout` (checked on a thread of its own), or, on the leader, kopf's watches are not
  running. A standby with a reachable database is ready: it serves the API.
"""

import asyncio
import concurrent.futures
import logging
from typing import Annotated

import fastapi
import prometheus_client
from fastapi.responses import Response

from plugin_operator import metrics as operator_metrics
from plugin_operator.api import schemas
from plugin_operator.api.deps import ApiDeps, Deps
from plugin_operator.db import DatabaseUnavailable
from plugin_runtime import errors, problems

log = logging.getLogger(__name__)


class NotLive(errors.PluginUnavailable):
    slug, title = "not-live", "Not Live"


class NotReady(errors.PluginUnavailable):
    slug, title = "not-ready", "Not Ready"


router = fastapi.APIRouter(tags=["operations"])


def readiness_pinger() -> concurrent.futures.ThreadPoolExecutor:
    """One thread for readiness pings (kept in `app.state.readiness_pinger`, one per app).

    Never queued behind API work, and a hung ping blocks only itself.
    """
    return concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="readyz")


async def _pinger(request: fastapi.Request) -> concurrent.futures.ThreadPoolExecutor:
    pinger: concurrent.futures.ThreadPoolExecutor = request.app.state.readiness_pinger
    return pinger


Pinger = Annotated[concurrent.futures.ThreadPoolExecutor, fastapi.Depends(_pinger)]


def _role(deps: ApiDeps) -> str | None:
    return deps.process.role() if deps.process is not None else None


@router.get(
    "/healthz",
    response_model=schemas.ProcessStatus,
    response_model_exclude_none=True,
    responses=problems.responses(503),
    summary="The process is alive (restart it otherwise)",
)
async def healthz(deps: Deps) -> schemas.ProcessStatus:
    problem = deps.process.liveness_problem() if deps.process is not None else None
    if problem is not None:
        raise NotLive(problem)
    return schemas.ProcessStatus(status="ok", role=_role(deps))


@router.get(
    "/readyz",
    response_model=schemas.ProcessStatus,
    response_model_exclude_none=True,
    responses=problems.responses(503),
    summary="Ready to serve: the database answers and, on the leader, the watches run",
)
async def readyz(deps: Deps, pinger: Pinger) -> schemas.ProcessStatus:
    problem = deps.process.readiness_problem() if deps.process is not None else None
    if problem is not None:
        raise NotReady(problem)
    ping = asyncio.get_running_loop().run_in_executor(pinger, deps.database.ping)
    try:
        await asyncio.wait_for(ping, deps.readiness_timeout)
    except (DatabaseUnavailable, TimeoutError) as exc:
        operator_metrics.DATABASE_UP.set(0)
        if isinstance(exc, DatabaseUnavailable):  # anyone may call this: no address, no driver message
            log.warning("readiness: %s", exc.detail)
            raise DatabaseUnavailable("the database is unavailable", retry_after=exc.retry_after) from None
        raise DatabaseUnavailable(f"the database did not answer within {deps.readiness_timeout:g}s") from None
    operator_metrics.DATABASE_UP.set(1)
    return schemas.ProcessStatus(status="ready", role=_role(deps))


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {prometheus_client.CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}}},
    summary="Prometheus metrics of the operator process",
)
def metrics() -> Response:
    return Response(prometheus_client.generate_latest(), media_type=prometheus_client.CONTENT_TYPE_LATEST)
