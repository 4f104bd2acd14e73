"""Liveness and readiness stay truthful while every thread of the API is stuck on a hung runtime.

The probes run on the event loop (readiness pings the database on a thread of its own), so calls
that wait on plugin runtimes cannot starve them; before, `/healthz` shared the pool with those calls
and timed out under load, and the kubelet restarted a healthy operator.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import time

import httpx

from plugin_operator import api
from tests.chart import helm

from . import http_stub
from .conftest import PluginFactory, Tokens, bearer, serve_health, serving

#: More concurrent runtime calls than the API's thread pool (anyio's default: 40 threads) has room for.
HANGING_CALLS = 80
RUNTIME_HANG_SECONDS = 4.0


def _probe_timeout(probe: str) -> float:
    """The kubelet's timeout for a probe, as the chart configures it: slower is a failed probe."""
    [deployment] = [o for o in helm.render_chart({"jwt": {"jwksUrl": "https://idp/jwks"}}) if o["kind"] == "Deployment"]
    return float(deployment["spec"]["template"]["spec"]["containers"][0][probe]["timeoutSeconds"])


def _timed_get(url: str, **kwargs: object) -> tuple[int, float]:
    started = time.monotonic()
    response = httpx.get(url, timeout=30, **kwargs)  # type: ignore[arg-type]
    return response.status_code, time.monotonic() - started


def test_probes_answer_in_time_while_runtime_calls_fill_the_thread_pool(
    deps: api.ApiDeps, tokens: Tokens, make_plugin: PluginFactory, runtime: http_stub.StubServer
) -> None:
    ref = make_plugin()
    serve_health(runtime, ref.plugin_id, "healthy", delay=RUNTIME_HANG_SECONDS)
    patient = dataclasses.replace(deps, runtime_timeout=RUNTIME_HANG_SECONDS + 2)
    with (
        serving(api.create_app(patient)) as url,
        concurrent.futures.ThreadPoolExecutor(HANGING_CALLS) as callers,
    ):
        health = f"{url}{api.PREFIX}/plugins/{ref.plugin_id}/health"
        hung = [callers.submit(_timed_get, health, headers=bearer(tokens.read)) for _ in range(HANGING_CALLS)]
        time.sleep(1.0)  # let the calls reach the runtime and occupy the pool
        assert not any(call.done() for call in hung), "the runtime calls must still be hanging"

        live_status, live_seconds = _timed_get(f"{url}/healthz")
        ready_status, ready_seconds = _timed_get(f"{url}/readyz")
        # The proof the pool was full: an ordinary pool-bound request waits behind the hung calls.
        _, queued_seconds = _timed_get(f"{url}{api.PREFIX}/plugins", headers=bearer(tokens.read))

        assert live_status == 200 and live_seconds < _probe_timeout("livenessProbe")
        assert ready_status == 200 and ready_seconds < _probe_timeout("readinessProbe")
        assert queued_seconds > _probe_timeout("livenessProbe"), "the load did not fill the thread pool"
        for call in hung:
            call.result()
