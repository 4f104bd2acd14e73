"""An HTTP reverse proxy in front of the dev cluster that answers chosen requests with injected errors.

    with KubeFaults(cluster.url) as api:                  # the operator's kubeconfig points at api.url
        fault = api.inject(Fault("PATCH", r"/plugins/demo/status$", 409, times=2, user_agent="OpenAPI"))
        ...
        assert fault.served == 2

Everything else is forwarded unchanged, watch streams included (chunk by chunk), so kopf and the
official client run exactly as against the cluster itself. Injected answers are Kubernetes
`Status` documents, as the API server sends them. `user_agent` tells the operator's own calls
(the `kubernetes` client: "OpenAPI-Generator/...") from kopf's ("kopf/...").
"""

from __future__ import annotations

import dataclasses
import re
import threading
from types import TracebackType
from typing import Self

import aiohttp
from aiohttp import web

from tests.support.tcpproxy import BackgroundLoop

__all__ = ["KOPF", "OPERATOR_CLIENT", "Fault", "KubeFaults", "Served"]

#: User-Agent prefixes of the operator's two API clients: the official client (`Kube`) and kopf.
OPERATOR_CLIENT = "OpenAPI-Generator"
KOPF = "kopf"

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host", "upgrade"}
_REASONS = {409: "Conflict", 429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable"}


@dataclasses.dataclass
class Fault:
    """Answer `status` instead of forwarding, to the next `times` requests that match."""

    method: str
    path: str  # a regular expression searched in the request path
    status: int
    times: int
    user_agent: str = ""  # a substring of the User-Agent header ("" matches any client)
    served: int = 0

    def matches(self, request: web.Request) -> bool:
        return (
            self.served < self.times
            and request.method == self.method
            and re.search(self.path, request.path) is not None
            and self.user_agent in request.headers.get("User-Agent", "")
        )


@dataclasses.dataclass(frozen=True)
class Served:
    """One request the proxy saw, with the status it answered (injected or the cluster's)."""

    method: str
    path: str
    user_agent: str
    status: int
    injected: bool


class KubeFaults:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.faults: list[Fault] = []
        self.log: list[Served] = []
        self._lock = threading.Lock()
        self._loop: BackgroundLoop | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    def inject(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def seen(self, method: str, path: str, *, user_agent: str = "") -> list[Served]:
        """Requests logged so far whose method matches and whose path matches the regex `path`."""
        with self._lock:
            return [
                s for s in self.log if s.method == method and re.search(path, s.path) and user_agent in s.user_agent
            ]

    # Lifecycle -----------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self._loop = BackgroundLoop("kube-faults")
        self._loop.call(self._start())
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._loop is not None:
            self._loop.call(self._stop())
            self._loop.close()
            self._loop = None

    async def _start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_read=None), auto_decompress=True
        )
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    # Requests ------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        user_agent = request.headers.get("User-Agent", "")
        with self._lock:
            fault = next((f for f in self.faults if f.matches(request)), None)
            if fault is not None:
                fault.served += 1
                self.log.append(Served(request.method, request.path, user_agent, fault.status, injected=True))
        if fault is not None:
            await request.read()
            return web.json_response(_status_document(fault.status, request), status=fault.status)
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        async with self._session.request(
            request.method,
            self.upstream + request.rel_url.raw_path_qs,
            headers=headers,
            data=await request.read() if request.body_exists else None,
            allow_redirects=False,
        ) as upstream:
            with self._lock:
                self.log.append(Served(request.method, request.path, user_agent, upstream.status, injected=False))
            response = web.StreamResponse(
                status=upstream.status,
                reason=upstream.reason,
                headers={k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP},
            )
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response


def _status_document(status: int, request: web.Request) -> dict[str, object]:
    reason = _REASONS.get(status, "InternalError")
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f"injected by the test proxy: {request.method} {request.path} answered {status}",
        "reason": reason,
        "code": status,
    }
