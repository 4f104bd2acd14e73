"""The operator's HTTP client for a plugin-runtime: health probes, smoke queries and admin calls.

Every call has a bounded timeout and maps transport failures to one `ProbeResult`/exception, so the
reconciler and health monitor reason about outcomes, not httpx exceptions.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

import httpx

from plugin_operator.control_plane import TOKEN_TTL_SECONDS, ControlPlaneKey
from plugin_runtime import errors

#: Seconds a runtime may take to load a plugin it is handed (PUT /admin/plugins/{id}).
_LOAD_TIMEOUT = 60.0


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    """One health probe: `reachable` False means the runtime itself did not answer."""

    reachable: bool
    status: str  # healthy | degraded | unhealthy | unknown
    response_time_ms: int
    document: dict[str, Any] | None = None
    error: str | None = None


class ControlPlaneAuth(httpx.Auth):
    """httpx auth for the operator's calls to runtimes: a fresh short-lived bearer token on each
    request that does not carry its own Authorization (the admin calls carry the runtime's token)."""

    def __init__(self, key: ControlPlaneKey, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._key = key
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._minted_at = 0.0

    def token(self) -> str:
        with self._lock:
            if self._token is None or self._clock() - self._minted_at > TOKEN_TTL_SECONDS * 2 / 3:
                self._token, self._minted_at = self._key.mint(), self._clock()
            return self._token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if "authorization" not in request.headers:
            request.headers["Authorization"] = f"Bearer {self.token()}"
        yield request


class RuntimeClient:
    def __init__(
        self,
        *,
        timeout: float = 3.0,
        auth: httpx.Auth | None = None,
        proxy: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`auth`: how the operator proves itself to runtimes (`ControlPlaneAuth`); None sends no token.
        `proxy`: where runtime addresses are reached (`OperatorSettings.runtime_proxy`); `transport`:
        instead, a transport of the caller's (the scale benchmark routes `<service>.<namespace>.svc`
        to the processes it runs)."""
        self._client = httpx.AsyncClient(timeout=timeout, auth=auth, proxy=proxy, transport=transport)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def live(self, endpoint: str) -> bool:
        try:
            response = await self._client.get(f"{endpoint}/health/live")
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def probe(self, endpoint: str, plugin_id: str) -> ProbeResult:
        started = time.perf_counter()
        try:
            response = await self._client.get(f"{endpoint}/plugins/{plugin_id}/health")
        except httpx.TimeoutException:
            return ProbeResult(False, "unknown", _ms(started), error="health probe timed out")
        except httpx.HTTPError as exc:
            return ProbeResult(False, "unknown", _ms(started), error=f"runtime unreachable: {type(exc).__name__}")
        elapsed = _ms(started)
        try:
            body = response.json()
        except ValueError:
            return ProbeResult(True, "unknown", elapsed, error=f"health answered {response.status_code} without JSON")
        if not isinstance(body, dict):
            return ProbeResult(True, "unknown", elapsed, error="health answered a non-object")
        if "status" in body and body.get("plugin_id") == plugin_id:
            return ProbeResult(True, str(body["status"]), elapsed, document=body, error=_health_error(body))
        detail = body.get("detail") or f"health answered {response.status_code}"
        return ProbeResult(True, "unknown", elapsed, error=str(detail))

    async def metadata(self, endpoint: str, plugin_id: str | None = None) -> dict[str, Any]:
        """The runtime's `/metadata`; of one plugin only when `plugin_id` is given (a shared runtime)."""
        params = {"plugin": plugin_id} if plugin_id is not None else None
        response = await self._request("GET", f"{endpoint}/metadata", params=params)
        return dict(response.json())

    async def smoke_query(self, endpoint: str, query_id: str) -> None:
        """Run the query with `$top=1`; any non-2xx answer raises with the runtime's problem detail."""
        await self._request("GET", f"{endpoint}/queries/{query_id}", params={"$top": "1"}, timeout=15.0)

    async def admin(self, endpoint: str, token: str, action: str, plugin_id: str | None = None) -> None:
        path = f"/admin/plugins/{plugin_id}/{action}" if plugin_id else f"/admin/{action}"
        await self._request("POST", endpoint + path, headers={"Authorization": f"Bearer {token}"})

    async def put_plugin(self, endpoint: str, token: str, plugin: dict[str, Any]) -> str | None:
        """Host one plugin entry in a (shared) runtime; the load error when the entry failed to load."""
        url = f"{endpoint}/admin/plugins/{plugin['id']}"
        # Loading can take the plugin's own load time behind its neighbours' changes: not a probe's timeout.
        headers = {"Authorization": f"Bearer {token}"}
        response = await self._request("PUT", url, json=plugin, headers=headers, timeout=_LOAD_TIMEOUT)
        error = response.json().get("load_error")
        return str(error) if error else None

    async def remove_plugin(self, endpoint: str, token: str, plugin_id: str) -> None:
        """Stop hosting one plugin; one the runtime does not host is already removed."""
        try:
            await self._request(
                "DELETE", f"{endpoint}/admin/plugins/{plugin_id}", headers={"Authorization": f"Bearer {token}"}
            )
        except errors.PluginError as exc:
            if exc.extensions.get("upstream_status") != 404:
                raise

    async def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._client.request(method, url, **kwargs)
        except httpx.TimeoutException:
            raise errors.BackendTimeout(f"{method} {url}: the runtime did not answer in time") from None
        except httpx.HTTPError as exc:
            raise errors.PluginUnavailable(f"{method} {url}: runtime unreachable ({type(exc).__name__})") from None
        if response.status_code in _GATEWAY_UNAVAILABLE:
            # Answered by what stands in front of the runtime (a Service with no ready pod, a proxy
            # that lost its upstream), not by the runtime: unavailable for now, so retried soon.
            raise errors.PluginUnavailable(
                f"{method} {url}: runtime unavailable ({response.status_code} {response.text[:200]})"
            )
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail")
            except ValueError:
                detail = None
            raise errors.PluginError(
                f"{method} {url} answered {response.status_code}: {detail or response.text[:300]}",
                upstream_status=response.status_code,
            )
        return response


_GATEWAY_UNAVAILABLE = frozenset({502, 503, 504})


def _health_error(body: dict[str, Any]) -> str | None:
    if body.get("status") in ("healthy",):
        return None
    failing = [d for d in body.get("dependencies") or [] if d.get("status") != "healthy"]
    if failing:
        return "; ".join(_dependency_error(d) for d in failing)
    return str(body.get("last_error_message") or body.get("message") or body.get("status"))


def _dependency_error(dependency: dict[str, Any]) -> str:
    """`Elasticsearch API is unhealthy: unreachable at http://127.0.0.1:9200: [Errno 111] Connection refused`."""
    said = f"{dependency.get('name')} is {dependency.get('status')}"
    return f"{said}: {dependency['message']}" if dependency.get("message") else said


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
