"""A plugin's backend fails: its breaker opens (503 + Retry-After), the operator reports CircuitOpen and
Degraded; the backend recovers: the half-open trial closes the breaker and the plugin is Active again."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from tests.e2e.conftest import localsql_plugin, query_id, unique, wait_for

from .conftest import ResilienceHarness

FAILURE_THRESHOLD = 3
COOLDOWN_SECONDS = 2


class Backend:
    """A JSON API on loopback that the test switches between healthy and failing (HTTP 500 everywhere)."""

    def __init__(self) -> None:
        self.failing = False
        self.item_requests = 0
        backend = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/items"):
                    backend.item_requests += 1
                status, body = (
                    (500, {"error": "backend down"})
                    if backend.failing
                    else (200, _ANSWERS.get(self.path.split("?")[0], {}))
                )
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @contextlib.contextmanager
    def running(self) -> Iterator[Backend]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()


_ANSWERS: dict[str, Any] = {
    "/health": {"ok": True},
    "/items": {"items": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]},
}


def _rest_plugin(name: str, backend_url: str) -> dict[str, Any]:
    manifest = localsql_plugin(
        name,
        adapter="rest",
        contractFormat="custom",
        config={"base_url": backend_url, "health_path": "/health", "retry_count": 0, "timeout": "2s"},
        # The one address the pod may reach (the embedded cluster's network fence enforces it).
        egress=[{"cidr": "127.0.0.1/32", "ports": [urllib.parse.urlsplit(backend_url).port]}],
        sandbox={
            "timeout": "3s",
            "circuitBreaker": {"failureThreshold": FAILURE_THRESHOLD, "cooldown": f"{COOLDOWN_SECONDS}s"},
        },
    )
    manifest["spec"]["queries"][0]["options"] = {"url": "{base_url}/items", "rows": "$.items"}
    return manifest


def _keep_failing(ask: Callable[[], httpx.Response], stop: threading.Event) -> None:
    """Failing traffic, as clients keep sending it: each half-open trial fails and re-opens the breaker."""
    while not stop.wait(0.2):
        ask()


def test_breaker_opens_on_backend_failures_and_closes_when_the_backend_recovers(harness: ResilienceHarness) -> None:
    name = unique("breaker")
    with Backend().running() as backend:
        harness.apply(_rest_plugin(name, backend.url))
        endpoint = harness.wait_phase(name, "Active")["endpoint"]

        def ask() -> httpx.Response:
            return harness.runtime_get(f"{endpoint}/queries/{query_id(name)}")

        assert ask().json()["value"] == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]

        backend.failing = True
        failures = [ask() for _ in range(FAILURE_THRESHOLD)]
        assert [r.status_code for r in failures] == [502] * FAILURE_THRESHOLD
        calls_when_opened = backend.item_requests
        refused = [ask() for _ in range(5)]
        assert {r.status_code for r in refused} == {503}
        assert backend.item_requests == calls_when_opened, "an open breaker keeps calls off the backend"
        problem = refused[0].json()
        assert refused[0].headers["content-type"].startswith("application/problem+json")
        assert problem["circuit"] == "open" and "circuit breaker is open" in problem["detail"]
        assert 1 <= int(refused[0].headers["Retry-After"]) <= COOLDOWN_SECONDS

        stop = threading.Event()
        traffic = threading.Thread(target=_keep_failing, args=(ask, stop), daemon=True)
        traffic.start()
        try:
            status = wait_for(
                lambda: (
                    (s := harness.status(name)).get("phase") == "Degraded"
                    and s["health"].get("circuit") == "open"
                    and harness.condition(name, "BackendHealthy").get("reason") == "CircuitOpen"
                    and s
                ),
                timeout=20,
                what="the operator to report the open breaker",
            )
        finally:
            stop.set()
            traffic.join(5)
        assert status["health"]["status"] == "unhealthy"
        backend_healthy = harness.condition(name, "BackendHealthy")
        assert backend_healthy["status"] == "False" and "consecutive probes" in backend_healthy["message"]
        assert harness.condition(name, "Ready")["status"] == "False"

        backend.failing = False
        # After the cool-down the breaker lets one trial query through; it succeeds, so the breaker closes.
        runtime_health = f"{endpoint}/plugins/{name}/health"
        wait_for(
            lambda: harness.runtime_get(runtime_health).json()["circuit"] == "half-open",
            timeout=COOLDOWN_SECONDS + 5,
            what="the breaker to half-open after the cool-down",
        )
        recovered = ask()
        assert recovered.status_code == 200 and len(recovered.json()["value"]) == 2
        assert harness.runtime_get(runtime_health).json()["circuit"] == "closed"
        status = harness.wait_phase(name, "Active", timeout=20)
        assert status["health"]["circuit"] == "closed"
        assert harness.condition(name, "BackendHealthy")["status"] == "True"
        assert harness.condition(name, "Ready")["status"] == "True"
        assert ask().status_code == 200
