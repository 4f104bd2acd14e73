"""kube-proxy and cluster DNS of the dev cluster: an HTTP forward proxy for Service names.

A client configured with this proxy (`http_proxy=…`, or the operator's `runtime_proxy` setting)
sends `GET http://<service>.<namespace>.svc[.cluster.local][:port]/path`; the proxy picks a ready pod
behind the Service's selector (round robin) and streams the exchange through the pod's ingress
socket (a Service with `publishNotReadyAddresses` also to running pods that are not Ready, as
kube-proxy does). Nothing else is proxied: other hosts get 502, a Service with no ready pod 503 — both with a
plain-text reason.

Connections to a pod's ingress socket are kept alive and reused, one client session per socket: a
fresh session and connection per request (and the sandbox's relay threads and upstream connection
behind each) was half of the dev cluster's CPU when a thousand Plugins converged (bench.operator_scale).
An idle connection is closed well before the runtime's own keep-alive timeout (uvicorn's 5 s), and a
reused connection the pod closed meanwhile is retried once for idempotent methods (aiohttp's rule).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from pathlib import Path

import aiohttp
import aiohttp.web

from plugin_devcluster import catalogue
from plugin_devcluster.storage import Storage

__all__ = ["ServiceProxy", "service_of"]

log = logging.getLogger(__name__)
#: (namespace, ready_only=…) → (labels, ingress socket) of the running pods (`Kubelet.endpoints`).
Endpoints = Callable[..., list[tuple[dict[str, str], Path]]]
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
}
#: Seconds an idle connection to a pod is kept for the next request (below the runtime's 5 s).
_KEEPALIVE_SECONDS = 2.0


def service_of(host: str) -> tuple[str, str] | None:
    """(service, namespace) of a cluster Service host name, with or without a port; None otherwise."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.lower().removesuffix(".").removesuffix(".cluster.local")
    parts = name.split(".")
    if len(parts) != 3 or parts[2] != "svc" or not all(parts[:2]):
        return None
    return parts[0], parts[1]


class ServiceProxy:
    def __init__(self, store: Storage, endpoints: Endpoints) -> None:
        self.store, self.endpoints = store, endpoints
        self._turn = itertools.count()
        self._runner: aiohttp.web.ServerRunner | None = None
        self._sessions: dict[Path, aiohttp.ClientSession] = {}  # ingress socket → its kept-alive session
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> None:
        self._runner = aiohttp.web.ServerRunner(aiohttp.web.Server(self._handle), shutdown_timeout=1.0)
        await self._runner.setup()
        site = aiohttp.web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()

    async def _session(self, socket: Path) -> aiohttp.ClientSession:
        """The socket's session; making a new one also closes those of sockets gone with their pods."""
        session = self._sessions.get(socket)
        if session is not None:
            return session
        # No cap on connections (aiohttp's default is 100): requests hanging in one plugin must not
        # queue its neighbours' behind them, as they would not without the proxy.
        connector = aiohttp.UnixConnector(path=str(socket), keepalive_timeout=_KEEPALIVE_SECONDS, limit=0)
        session = self._sessions[socket] = aiohttp.ClientSession(connector=connector, auto_decompress=False)
        for gone in [path for path in self._sessions if path != socket and not path.exists()]:
            stale = self._sessions.pop(gone, None)
            if stale is not None:
                await stale.close()
        return session

    def _pick(self, service: str, namespace: str) -> tuple[int, str | Path]:
        found = self.store.find(catalogue.SERVICES, namespace, service)
        if found is None:
            return 502, f"no Service {namespace}/{service}"
        spec = found.get("spec") or {}
        selector = spec.get("selector") or {}
        if not selector:
            return 503, f"Service {namespace}/{service} has no selector"
        running = self.endpoints(namespace, ready_only=not spec.get("publishNotReadyAddresses"))
        sockets = [path for labels, path in running if selector.items() <= labels.items()]
        if not sockets:
            return 503, f"no ready pod behind Service {namespace}/{service}"
        return 200, sockets[next(self._turn) % len(sockets)]

    async def _handle(self, request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        # The request target names the Service (absolute-form, as proxy clients send it); the Host
        # header is the caller's and goes to the pod unchanged.
        target = service_of(request.url.host or "")
        if target is None:
            return aiohttp.web.Response(status=502, text="the dev cluster proxies only <service>.<namespace>.svc\n")
        code, picked = self._pick(*target)
        if isinstance(picked, str):
            return aiohttp.web.Response(status=code, text=picked + "\n")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        path = request.url.raw_path_qs
        session = await self._session(picked)
        try:
            upstream = await session.request(
                request.method,
                f"http://pod{path}",
                headers=headers,
                data=request.content if request.body_exists else None,
                allow_redirects=False,
            )
        except aiohttp.ClientError as exc:
            return aiohttp.web.Response(status=502, text=f"pod unreachable: {type(exc).__name__}\n")
        async with upstream:
            response = aiohttp.web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for key, value in upstream.headers.items():
                if key.lower() not in _HOP_BY_HOP:
                    response.headers.add(key, value)
            await response.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
            except (aiohttp.ClientError, ConnectionError):
                log.info("proxied response cut short", extra={"service": target[0]})
            await response.write_eof()
            return response
