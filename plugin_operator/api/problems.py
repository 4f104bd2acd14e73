"""Every error of the management API as an RFC 7807 problem document, and its OpenAPI description.

`plugin_runtime.errors` is the one mapping from failures to statuses; this module only renders it:
our own exceptions via `PluginError.to_problem`, FastAPI's request validation errors as 400
`invalid-input` listing the offending fields, and Starlette's routing errors (unknown path 404,
wrong method 405) as problems too. Anything unexpected becomes a 500 whose detail says nothing
about the cause (the traceback goes to the log only), so internals and secrets cannot leak.
"""

from __future__ import annotations

import logging
from typing import Any

import fastapi
from fastapi import exceptions as fastapi_exceptions
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from plugin_operator import security
from plugin_runtime import errors

log = logging.getLogger(__name__)

#: The realm announced in `WWW-Authenticate` challenges (RFC 6750).
REALM = "hyperspot-analytics"


class Problem(BaseModel):
    """RFC 7807 problem details; extension members (e.g. `health`, `errors`) may follow."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="URI identifying the problem type.")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    instance: str | None = Field(None, description="The request path that failed.")


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the problem statuses a route can answer with."""
    return {status: {"model": Problem, "description": _DESCRIPTIONS[status]} for status in statuses}


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


def document_problems(openapi: dict[str, Any]) -> dict[str, Any]:
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


def problem_response(problem: dict[str, Any], *, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(problem, status_code=problem["status"], media_type=errors.PROBLEM_CONTENT_TYPE, headers=headers)


def _challenge(exc: errors.Unauthenticated) -> str:
    if isinstance(exc, security.InvalidToken):
        return f'Bearer realm="{REALM}", error="invalid_token"'
    return f'Bearer realm="{REALM}"'


async def _plugin_error(request: fastapi.Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.PluginError)
    headers: dict[str, str] = {}
    if isinstance(exc, errors.Unauthenticated):
        headers["WWW-Authenticate"] = _challenge(exc)
    if exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    if exc.status >= 500:
        log.warning("%s %s failed: %s", request.method, request.url.path, exc.detail)
    return problem_response(exc.to_problem(instance=request.url.path), headers=headers)


async def _validation_error(request: fastapi.Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, fastapi_exceptions.RequestValidationError)
    # Only location and message: echoing `input` could reflect whatever the caller sent.
    fields = [
        {"location": ".".join(str(part) for part in error.get("loc", ())), "message": str(error.get("msg", ""))}
        for error in exc.errors()
    ]
    summary = "; ".join(f"{field['location']}: {field['message']}" for field in fields)
    problem = errors.InvalidInput(f"invalid request: {summary}", errors=fields)
    return problem_response(problem.to_problem(instance=request.url.path))


async def _http_error(request: fastapi.Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    titles = {404: "Not Found", 405: "Method Not Allowed"}
    title = titles.get(exc.status_code, "HTTP Error")
    detail = {404: f"no resource at {request.url.path}", 405: f"{request.method} is not allowed here"}.get(
        exc.status_code, str(exc.detail)
    )
    body = errors.problem(status=exc.status_code, title=title, detail=detail, instance=request.url.path)
    return problem_response(body, headers=dict(exc.headers or {}))


async def _unexpected(request: fastapi.Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error in %s %s", request.method, request.url.path, exc_info=exc)
    failure = errors.PluginError("internal error; see the operator log")
    return problem_response(failure.to_problem(instance=request.url.path))


def install(app: fastapi.FastAPI) -> None:
    app.add_exception_handler(errors.PluginError, _plugin_error)
    app.add_exception_handler(fastapi_exceptions.RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
