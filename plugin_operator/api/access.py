"""Authentication, role checks and the audit trail of management actions, as FastAPI dependencies.

Authentication runs before ids and values are validated, so an anonymous caller learns nothing
about which plugins or entities exist (401 first, then 403, then 400/404). Only undeclared query
parameter names are refused earlier, and those are public in the OpenAPI document anyway.

Audit: every management action (enable, disable, reload, delete) is written to the audit log with
the caller's subject, the action, the target plugin id and the outcome — success, failed (with the
problem status) or denied (the caller lacks the role). A caller without a valid token has no
identity to record, so those attempts go to the structured `audit` log only: writing a database row
for every anonymous request would let anyone fill the audit table.
"""

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import fastapi
from fastapi import security as fastapi_security

from plugin_operator import db, security
from plugin_runtime import errors
from plugin_runtime.interface import SecurityCtx

audit_log = logging.getLogger("audit")

_bearer = fastapi_security.HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    description="A JWT carrying the roles analytics:plugins:read, :write or :admin (claims roles, scope or scp).",
)
_MAX_TARGET = 255


class Auditor:
    def __init__(self, database: db.Database) -> None:
        self.database = database

    def record(
        self, *, actor: str, action: str, target: str, outcome: str, detail: dict[str, Any] | None = None
    ) -> None:
        """Write one audit entry; if the database cannot take it, the structured log still gets it."""
        target = target[:_MAX_TARGET]
        try:
            self.database.audit(actor=actor, action=action, target=target, outcome=outcome, detail=detail)
        except errors.PluginError as exc:
            audit_log.error(
                "%s %s %s: %s (not stored: %s)",
                actor,
                action,
                target,
                outcome,
                exc.detail,
                extra={"actor": actor, "action": action, "target": target, "outcome": outcome, "detail": detail},
            )

    @contextlib.contextmanager
    def action(self, ctx: SecurityCtx, action: str, target: str) -> Iterator[None]:
        """Audit the enclosed management action as success, or as failed with the error's status."""
        try:
            yield
        except errors.PluginError as exc:
            self.record(
                actor=ctx.subject,
                action=action,
                target=target,
                outcome="failed",
                detail={"status": exc.status, "error": exc.title},
            )
            raise
        except Exception:
            self.record(actor=ctx.subject, action=action, target=target, outcome="failed", detail={"status": 500})
            raise
        self.record(actor=ctx.subject, action=action, target=target, outcome="success")


class Access:
    """The app's token verifier and auditor (in `app.state.access`), read by the route dependencies."""

    def __init__(self, verifier: security.TokenVerifier, auditor: Auditor) -> None:
        self.verifier = verifier
        self.auditor = auditor

    def authenticate(self, credentials: fastapi_security.HTTPAuthorizationCredentials | None) -> SecurityCtx:
        if credentials is None or not credentials.credentials:
            raise errors.Unauthenticated("a bearer token is required (Authorization: Bearer <JWT>)")
        return self.verifier.verify(credentials.credentials)

    def check(
        self,
        request: fastapi.Request,
        credentials: fastapi_security.HTTPAuthorizationCredentials | None,
        role: security.Role,
        action: str | None,
    ) -> SecurityCtx:
        """The caller's SecurityCtx once it holds `role`; with an `action`, denials are audited."""
        target = str(request.path_params.get("plugin_id", ""))
        try:
            ctx = self.authenticate(credentials)
        except errors.Unauthenticated as exc:
            if action is not None:
                audit_log.warning(
                    "anonymous %s %s: denied (%s)",
                    action,
                    target[:_MAX_TARGET],
                    exc.detail,
                    extra={"actor": None, "action": action, "target": target[:_MAX_TARGET], "outcome": "denied"},
                )
            raise
        try:
            security.authorize(ctx, role)
        except errors.Forbidden:
            if action is not None:
                self.auditor.record(
                    actor=ctx.subject,
                    action=action,
                    target=target,
                    outcome="denied",
                    detail={"required_role": role.value},
                )
            raise
        return ctx


def _access(request: fastapi.Request) -> Access:
    access: Access = request.app.state.access
    return access


def require(role: security.Role, *, action: str | None = None) -> Callable[..., SecurityCtx]:
    """A dependency returning the caller's SecurityCtx once it holds `role`; `action` audits denials."""

    def dependency(
        request: fastapi.Request,
        credentials: Annotated[fastapi_security.HTTPAuthorizationCredentials | None, fastapi.Depends(_bearer)],
    ) -> SecurityCtx:
        return _access(request).check(request, credentials, role, action)

    return dependency


def _auditor(request: fastapi.Request) -> Auditor:
    return _access(request).auditor


#: The caller of a read-only route.
Reader = Annotated[SecurityCtx, fastapi.Depends(require(security.Role.READ))]
#: The app's auditor of management actions.
AuditorDep = Annotated[Auditor, fastapi.Depends(_auditor)]
