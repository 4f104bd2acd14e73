"""Request bodies are bounded before anything else reads them, authentication included.

The API's bodies are small JSON documents (an API key value, a patch); a caller sending megabytes
is refused with a 413 problem as soon as `Content-Length` says so, or, for a body without one
(chunked), as soon as the bytes received pass the limit — never buffered beyond it.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plugin_runtime import errors

__all__ = ["MAX_BODY_BYTES", "BodyLimit"]

MAX_BODY_BYTES = 64 * 1024


async def _refuse(send: Send, path: str, limit: int) -> None:
    body = errors.problem(
        status=413,
        title="Payload Too Large",
        detail=f"request bodies are limited to {limit} bytes",
        instance=path,
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", errors.PROBLEM_CONTENT_TYPE.encode()), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


class BodyLimit:
    """Pure ASGI middleware (outermost): 413 for bodies over `limit` bytes.

    The body (at most `limit` bytes) is read here in full and replayed to the app, so a body that
    grows past the limit mid-stream is refused before any handler or dependency runs.
    """

    def __init__(self, app: ASGIApp, *, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _refuse(send, path, self.limit)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await _refuse(send, path, self.limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
