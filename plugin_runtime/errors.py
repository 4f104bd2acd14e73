"""The exception tree of the plugin system and its one mapping to RFC 7807 problem documents.

Plugins, adapters, the runtime and the management API raise these; only the HTTP edges turn them
into responses (`to_problem`), so the same failure has the same status everywhere.

    PluginError (500 plugin-failure)
    ├── InvalidQuery (400 invalid-query)            malformed OData, unknown property, bad option
    │   └── InvalidInput (400 invalid-input)         bad request bodies and ids at the management API
    ├── Unauthenticated (401 unauthenticated)
    ├── Forbidden (403 forbidden)
    │   └── ExecuteNotPermitted (403 execute-not-permitted)  the plugin lacks the execute permission
    ├── NotFound (404 not-found)
    ├── Conflict (409 conflict)
    ├── NotSupported (501 not-supported)             valid OData the adapter cannot express
    ├── BackendError (502 backend-error)             the backend answered with an error
    │   └── BackendAuthFailed (502 backend-auth-failed)  the backend or its token endpoint refused our credentials
    ├── PluginUnavailable (503 plugin-unavailable)   disabled, unhealthy, circuit open, backend down
    └── BackendTimeout (504 backend-timeout)
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_BASE = "https://hyperspot.io/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"


class PluginError(Exception):
    """The base of every plugin error: an unexpected plugin failure (500). Extensions become problem members."""

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "plugin-failure"
    title: ClassVar[str] = "Plugin Failure"

    def __init__(self, detail: str, *, retry_after: float | None = None, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after
        self.extensions = extensions

    def to_problem(self, *, instance: str | None = None) -> dict[str, Any]:
        """This error as an RFC 7807 problem document (`instance`: the request path)."""
        return problem(
            status=self.status,
            title=self.title,
            detail=self.detail,
            slug=self.slug,
            instance=instance,
            **self.extensions,
        )


class InvalidQuery(PluginError):
    """The caller's query is wrong: malformed OData, an unknown property, a bad option (400)."""

    status, slug, title = 400, "invalid-query", "Invalid Query"


class InvalidInput(InvalidQuery):
    """A bad request body, id or plugin configuration (400)."""

    slug, title = "invalid-input", "Invalid Input"


class Unauthenticated(PluginError):
    """No valid credentials (401, with `WWW-Authenticate`)."""

    status, slug, title = 401, "unauthenticated", "Unauthenticated"


class Forbidden(PluginError):
    """Authenticated, but not allowed to do this (403)."""

    status, slug, title = 403, "forbidden", "Forbidden"


class ExecuteNotPermitted(Forbidden):
    """The plugin's own permissions exclude serving queries (its Plugin lacks `execute`): 403, whoever asks."""

    slug, title = "execute-not-permitted", "Plugin May Not Execute Queries"


class NotFound(PluginError):
    """The query, plugin or entity does not exist (404)."""

    status, slug, title = 404, "not-found", "Not Found"


class Conflict(PluginError):
    """The request collides with the current state, e.g. an id owned by another plugin (409)."""

    status, slug, title = 409, "conflict", "Conflict"


class NotSupported(PluginError):
    """Valid OData the adapter cannot express in its backend's language (501); see `odata.unsupported`."""

    status, slug, title = 501, "not-supported", "Not Supported By Adapter"


class BackendError(PluginError):
    """The backend answered with an error (502)."""

    status, slug, title = 502, "backend-error", "Backend Error"


class BackendAuthFailed(BackendError):
    """The plugin's own credentials were refused (not the caller's): an admin must fix the Plugin."""

    slug, title = "backend-auth-failed", "Backend Authentication Failed"


class PluginUnavailable(PluginError):
    """Disabled, unhealthy, circuit open or backend down: try later (503, `Retry-After`)."""

    status, slug, title = 503, "plugin-unavailable", "Plugin Unavailable"


class BackendTimeout(PluginError):
    """The backend did not answer in time (504)."""

    status, slug, title = 504, "backend-timeout", "Backend Timeout"


def problem(
    *, status: int, title: str, detail: str, slug: str | None = None, instance: str | None = None, **extensions: Any
) -> dict[str, Any]:
    """Build an RFC 7807 problem document; extensions (e.g. `position`, `construct`) are added as members."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (slug or title.lower().replace(" ", "-")),
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    body.update({key: value for key, value in extensions.items() if value is not None})
    return body
