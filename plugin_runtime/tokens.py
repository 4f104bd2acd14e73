"""JWTs in and out of the runtime: who is asking (incoming) and what a backend is told (outgoing).

Incoming: a bearer token is verified with PyJWT — against a key from an environment variable (an
HMAC secret or a PEM public key) or a JWKS URL — with `exp` required and `aud`/`iss` checked when
configured, then turned into a `SecurityCtx`. `verify_bearer` is usable on its own (the management
API verifies its callers the same way).

Outgoing: before each query the runtime builds claims for the caller, lets the plugin adjust them
(`before_jwt_sign`), signs them and exposes the token to the plugin's code for that one call only:

    from plugin_runtime import tokens
    token = tokens.current_outgoing_token()   # inside execute_query; None when not configured

The token lives in a context variable of the call's own thread context, so concurrent queries never
see each other's tokens, and it is never logged.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jwt

from plugin_runtime import config, errors, interface

__all__ = [
    "IncomingAuth",
    "OutgoingSigner",
    "bearer_token",
    "bind_outgoing_token",
    "claims_to_ctx",
    "current_outgoing_token",
    "verify_bearer",
]

ANONYMOUS = interface.SecurityCtx(subject="anonymous")
_HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})

_outgoing: contextvars.ContextVar[str | None] = contextvars.ContextVar("outgoing_token", default=None)


def current_outgoing_token() -> str | None:
    """The signed token for the backend call a plugin is making right now (None when not configured)."""
    return _outgoing.get()


def bind_outgoing_token(token: str) -> None:
    """Called by the runtime in the plugin call's own context, just before `execute_query`."""
    _outgoing.set(token)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, Iterable):
        return [str(item) for item in value]
    return []


def claims_to_ctx(claims: Mapping[str, Any]) -> interface.SecurityCtx:
    """`sub` → subject, `tenant`/`tid` → tenant, `roles` + `scope`/`scp` → roles."""
    roles = {role for key in ("roles", "scope", "scp") for role in _strings(claims.get(key))}
    tenant = claims.get("tenant") or claims.get("tid")
    return interface.SecurityCtx(
        subject=str(claims["sub"]),
        tenant=str(tenant) if tenant is not None else None,
        roles=frozenset(roles),
        claims=dict(claims),
    )


def _usable_algorithms(key: str, algorithms: Iterable[str]) -> list[str]:
    """Never let one key serve both as HMAC secret and public key (algorithm confusion)."""
    asymmetric = key.lstrip().startswith("-----BEGIN")
    return [alg for alg in algorithms if (alg in _HMAC_ALGORITHMS) != asymmetric]


def verify_bearer(
    token: str,
    *,
    key: Any,
    algorithms: Iterable[str],
    audience: str | None = None,
    issuer: str | None = None,
) -> interface.SecurityCtx:
    """Verify signature, `exp` (required), `aud` and `iss` (when given) → SecurityCtx, or raise 401."""
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=list(algorithms),
            audience=audience,
            issuer=issuer,
            options={"require": ["exp", "sub"], "verify_aud": audience is not None},
        )
    except jwt.PyJWTError as exc:
        raise errors.Unauthenticated(f"invalid bearer token: {exc}") from None
    return claims_to_ctx(claims)


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header, or 401."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise errors.Unauthenticated("a bearer token is required (Authorization: Bearer <token>)")
    return token.strip()


class IncomingAuth:
    """The runtime's configured way of turning an Authorization header into a SecurityCtx.

    A token whose (unverified) `iss` is the control plane's is verified only against the control
    plane's public key; every other token only against the executor's identity provider. The `iss`
    claim merely picks the key: a token is accepted only once its signature verifies against it.
    """

    def __init__(self, settings: config.IncomingAuth, *, environ: Mapping[str, str]) -> None:
        self.settings = settings
        self._key: str | None = None
        self._jwks: jwt.PyJWKClient | None = None
        if settings.mode != "jwt":
            return
        if settings.public_key:
            self._key = settings.public_key
        elif settings.public_key_env:
            self._key = environ.get(settings.public_key_env)
            if not self._key:
                raise errors.InvalidInput(f"auth.public_key_env names {settings.public_key_env}, which is not set")
        elif settings.jwks_url:
            self._jwks = jwt.PyJWKClient(settings.jwks_url, cache_keys=True, timeout=5)
        elif not settings.control_plane_public_key:
            raise errors.InvalidInput(
                "auth.mode jwt needs public_key, public_key_env, jwks_url or control_plane_public_key"
            )

    @property
    def required(self) -> bool:
        """False only when authentication was explicitly turned off (`mode: none`)."""
        return self.settings.mode != "none"

    def may_fetch_keys(self, authorization: str | None) -> bool:
        """True when verifying this header may fetch the JWKS (network I/O): the server then verifies
        in a thread. With a fresh cached key set that holds the token's `kid` it verifies inline."""
        if self._jwks is None or self.settings.mode == "none":
            return False
        cached = self._jwks.jwk_set_cache.get() if self._jwks.jwk_set_cache is not None else None
        if cached is None:
            return True
        try:
            token = bearer_token(authorization)
            if self._is_control_plane(token):
                return False
            kid = jwt.get_unverified_header(token).get("kid")
        except (errors.Unauthenticated, jwt.PyJWTError):
            return False  # rejected before any key is looked up
        return not any(key.key_id == kid for key in cached.keys)

    def _is_control_plane(self, token: str) -> bool:
        if not self.settings.control_plane_public_key:
            return False
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return False
        return bool(unverified.get("iss") == config.CONTROL_PLANE_ISSUER)

    def authenticate(self, authorization: str | None) -> interface.SecurityCtx:
        if self.settings.mode == "none":
            return ANONYMOUS
        token = bearer_token(authorization)
        if self._is_control_plane(token):
            assert self.settings.control_plane_public_key is not None
            return verify_bearer(
                token,
                key=self.settings.control_plane_public_key,
                algorithms=["ES256"],
                audience=config.CONTROL_PLANE_AUDIENCE,
                issuer=config.CONTROL_PLANE_ISSUER,
            )
        if self._jwks is not None:
            try:
                key: Any = self._jwks.get_signing_key_from_jwt(token).key
            except jwt.PyJWKClientConnectionError:  # not the caller's fault: 503, not 401
                raise errors.PluginUnavailable(
                    "the identity provider's JWKS endpoint is unreachable", retry_after=5
                ) from None
            except jwt.PyJWTError as exc:
                raise errors.Unauthenticated(f"invalid bearer token: {exc}") from None
            algorithms = self.settings.algorithms
        elif self._key is not None:
            key, algorithms = self._key, _usable_algorithms(self._key, self.settings.algorithms)
        else:
            raise errors.Unauthenticated("invalid bearer token: this runtime trusts no identity provider's tokens")
        return verify_bearer(
            token, key=key, algorithms=algorithms, audience=self.settings.audience, issuer=self.settings.issuer
        )

    def authorize_execute(self, ctx: interface.SecurityCtx) -> None:
        """Running or translating a query needs the execute role (403 otherwise); no-op without auth."""
        if self.required and self.settings.execute_role not in ctx.roles:
            raise errors.Forbidden(
                f"running queries requires the role {self.settings.execute_role}",
                required_role=self.settings.execute_role,
            )


class OutgoingSigner:
    """Signs the token a plugin forwards to its backend, after the plugin's `before_jwt_sign` hook."""

    def __init__(
        self, settings: config.OutgoingJwt, *, environ: Mapping[str, str], clock: Callable[[], float] = time.time
    ) -> None:
        key = config.secret_value(environ.get(settings.signing_key_env, ""))
        if not key:
            raise errors.InvalidInput(
                f"outgoing_jwt.signing_key_env names {settings.signing_key_env}, which is not set"
            )
        self.settings = settings
        self._key = key
        self._clock = clock

    def claims_for(self, ctx: interface.SecurityCtx) -> dict[str, Any]:
        now = int(self._clock())
        claims: dict[str, Any] = {
            "sub": ctx.subject,
            "tenant": ctx.tenant,
            "roles": sorted(ctx.roles),
            "iss": self.settings.issuer,
            "aud": self.settings.audience,
            "iat": now,
            "exp": now + self.settings.ttl_seconds,
        }
        return {key: value for key, value in claims.items() if value is not None}

    def sign(self, claims: Mapping[str, Any]) -> str:
        """Sign the (plugin-adjusted) claims; issuer and lifetime stay the runtime's to decide."""
        now = int(self._clock())
        fixed = {"iss": self.settings.issuer, "iat": now, "exp": now + self.settings.ttl_seconds}
        return jwt.encode({**claims, **fixed}, self._key, algorithm=self.settings.algorithm)
