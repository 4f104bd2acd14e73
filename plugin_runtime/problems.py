"""Every error of an HTTP app as an RFC 7807 problem document: the one edge both apps install.

`plugin_runtime.errors` is the one mapping from failures to statuses; this module only renders it,
for the runtime (`plugin_runtime.server`) and the operator's management API alike:

- our own exceptions via `PluginError.to_problem`, with `Retry-After` (whole seconds, at least 1)
  when the error says when to retry and a `WWW-Authenticate` challenge on 401s;
- FastAPI's request validation errors as 400 `invalid-input` listing the offending fields (location
  and message only: echoing the input could reflect whatever the caller sent);
- Starlette's routing errors (unknown path 404, wrong method 405) as problems too;
- anything unexpected as a 500 whose detail says nothing about the cause (the traceback goes to the
  log only), so internals and secrets cannot leak.

Details pass through `logs.redact`: a plugin's own error text may quote the secrets it was given.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import fastapi
from fastapi import exceptions as fastapi_exceptions
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from plugin_runtime import errors, logs

__all__ = ["Challenge", "Problem", "document", "install", "responses"]

log = logging.getLogger(__name__)

#: The `WWW-Authenticate` value of a 401 for this error (an app may name its realm, RFC 6750).
Challenge = Callable[[errors.Unauthenticated], str]


class Problem(BaseModel):
    """RFC 7807 problem details; extension members (e.g. `health`, `errors`) may follow."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="URI identifying the problem type.")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    instance: str | None = Field(None, description="The request path that failed.")


_DESCRIPTIONS = {
    400: "Invalid input (malformed id, query option or body).",
    401: "Missing, invalid or expired bearer token.",
    403: "The token lacks the required role.",
    404: "Plugin, entity or query not found.",
    409: "Conflict (e.g. the plugin id is ambiguous).",
    500: "Plugin failure.",
    501: "The adapter cannot express the query.",
    502: "The plugin runtime answered with an error.",
    503: "Plugin unhealthy, or Kubernetes, the database or the plugin runtime unavailable.",
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the problem statuses a route can answer with."""
    return {status: {"model": Problem, "description": _DESCRIPTIONS[status]} for status in statuses}


def document(openapi: dict[str, Any]) -> dict[str, Any]:
    """Serve error responses as application/problem+json and drop FastAPI's 422 (we answer 400)."""
    for path_item in openapi.get("paths", {}).values():
        for operation in path_item.values():
            documented = operation.get("responses", {})
            documented.pop("422", None)
            for status, response in documented.items():
                content = response.get("content", {})
                if status.isdigit() and int(status) >= 400 and "application/json" in content:
                    content[errors.PROBLEM_CONTENT_TYPE] = content.pop("application/json")
    schemas = openapi.get("components", {}).get("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    return openapi


def bearer(_: errors.Unauthenticated) -> str:
    """The plain challenge, for an app without a realm of its own."""
    return "Bearer"


def _response(problem: dict[str, Any], *, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(problem, status_code=problem["status"], media_type=errors.PROBLEM_CONTENT_TYPE, headers=headers)


def install(app: fastapi.FastAPI, *, server: str, challenge: Challenge = bearer) -> None:
    """Answer every error of `app` as a problem; `server` names the log a 500 points to."""

    async def plugin_error(request: fastapi.Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, errors.PluginError)
        headers: dict[str, str] = {}
        if isinstance(exc, errors.Unauthenticated):
            headers["WWW-Authenticate"] = challenge(exc)
        if exc.retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
        body = exc.to_problem(instance=request.url.path)
        body["detail"] = logs.redact(body["detail"])
        if exc.status >= 500:
            log.warning("%s %s failed: %s", request.method, request.url.path, body["detail"])
        return _response(body, headers=headers)

    async def validation_error(request: fastapi.Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, fastapi_exceptions.RequestValidationError)
        fields = [
            {"location": ".".join(str(part) for part in error.get("loc", ())), "message": str(error.get("msg", ""))}
            for error in exc.errors()
        ]
        summary = "; ".join(f"{field['location']}: {field['message']}" for field in fields)
        problem = errors.InvalidInput(f"invalid request: {summary}", errors=fields)
        return _response(problem.to_problem(instance=request.url.path))

    async def http_error(request: fastapi.Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        title = {404: "Not Found", 405: "Method Not Allowed"}.get(exc.status_code, "HTTP Error")
        detail = {404: f"no resource at {request.url.path}", 405: f"{request.method} is not allowed here"}.get(
            exc.status_code, str(exc.detail)
        )
        body = errors.problem(status=exc.status_code, title=title, detail=detail, instance=request.url.path)
        return _response(body, headers=dict(exc.headers or {}))

    async def unexpected(request: fastapi.Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error in %s %s", request.method, request.url.path, exc_info=exc)
        failure = errors.PluginError(f"internal error; see the {server} log")
        return _response(failure.to_problem(instance=request.url.path))

    app.add_exception_handler(errors.PluginError, plugin_error)
    app.add_exception_handler(fastapi_exceptions.RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
