"""Who may call the management API: bearer JWT → SecurityCtx, the role hierarchy, and auth settings.

The API trusts only tokens whose signature verifies against one configured key source (an HS256
secret, an RS/ES public key PEM, or a JWKS URL) and whose `exp` and `aud` (and `iss` when
configured) check out. The verification itself is the runtime's (`plugin_runtime.tokens`), so both
accept the same tokens; roles come from the `roles` claim or the OAuth `scope`/`scp` claims.

Roles form a hierarchy: admin implies write implies read. Checking a role is `authorize(ctx, role)`.

Outside development the operator must be given a key: `AuthSettings.from_env()` raises
`ConfigurationError` instead of starting an API that nobody (or everybody) can call. `DevAuth`
mints tokens for `make run` from development keys it keeps in its state directory.

Tokens never appear in errors or logs: failures are reported with PyJWT's reason, never the token.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import os
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from plugin_operator import control_plane
from plugin_runtime import config, errors, tokens
from plugin_runtime.interface import SecurityCtx

ENV_SECRET = "PLUGIN_OPERATOR_JWT_SECRET"
ENV_PUBLIC_KEY = "PLUGIN_OPERATOR_JWT_PUBLIC_KEY"
ENV_JWKS_URL = "PLUGIN_OPERATOR_JWKS_URL"
ENV_AUDIENCE = "PLUGIN_OPERATOR_JWT_AUDIENCE"
ENV_ISSUER = "PLUGIN_OPERATOR_JWT_ISSUER"

#: Audience expected when none is configured; identity providers must issue tokens for it.
DEFAULT_AUDIENCE = "hyperspot-analytics"
DEV_ISSUER = "plugin-operator-dev"
#: RFC 7518 §3.2: an HMAC key must be at least as long as the hash output (32 bytes for HS256).
MIN_SECRET_BYTES = 32
_JWKS_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512")
_EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


class Role(enum.StrEnum):
    READ = "analytics:plugins:read"
    WRITE = "analytics:plugins:write"
    ADMIN = "analytics:plugins:admin"


_IMPLIED: dict[Role, frozenset[Role]] = {
    Role.READ: frozenset({Role.READ}),
    Role.WRITE: frozenset({Role.WRITE, Role.READ}),
    Role.ADMIN: frozenset({Role.ADMIN, Role.WRITE, Role.READ}),
}


class ConfigurationError(Exception):
    """The operator's authentication settings are missing or unusable; it must not start."""


class InvalidToken(errors.Unauthenticated):
    """A bearer token was presented but is not acceptable (RFC 6750 error code `invalid_token`)."""


#: The realm announced in `WWW-Authenticate` challenges (RFC 6750).
REALM = "hyperspot-analytics"


def challenge(exc: errors.Unauthenticated) -> str:
    """The API's `WWW-Authenticate` value: its realm, and `invalid_token` when a token was refused."""
    if isinstance(exc, InvalidToken):
        return f'Bearer realm="{REALM}", error="invalid_token"'
    return f'Bearer realm="{REALM}"'


def effective_roles(granted: Iterable[str]) -> frozenset[Role]:
    """The plugin roles a caller holds once the hierarchy is applied; unknown role names are ignored."""
    known = {role.value: role for role in Role}
    return frozenset().union(*(_IMPLIED[known[name]] for name in granted if name in known))


def authorize(ctx: SecurityCtx, required: Role) -> None:
    """Raise `Forbidden` unless the caller holds `required` directly or through a stronger role."""
    if required not in effective_roles(ctx.roles):
        raise errors.Forbidden(f"this operation requires the role {required.value}", required_role=required.value)


def _load_public_key(pem: str) -> tuple[str, ...]:
    """The algorithms a PEM public key may verify; refuses key types we do not accept."""
    try:
        key = serialization.load_pem_public_key(pem.encode("utf-8"))
    except ValueError as exc:
        raise ConfigurationError(f"{ENV_PUBLIC_KEY} is not a PEM public key ({exc})") from None
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise ConfigurationError(f"{ENV_PUBLIC_KEY}: RSA keys must have at least 2048 bits")
        return ("RS256",)
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in _EC_ALGORITHMS:
        return (_EC_ALGORITHMS[key.curve.name],)
    raise ConfigurationError(f"{ENV_PUBLIC_KEY}: only RSA and EC (P-256/384/521) public keys are supported")


@dataclasses.dataclass(frozen=True)
class AuthSettings:
    """Exactly one key source; `algorithms` follows from it so a token cannot pick a weaker one."""

    audience: str = DEFAULT_AUDIENCE
    issuer: str | None = None
    secret: str | None = dataclasses.field(default=None, repr=False)
    public_key: str | None = dataclasses.field(default=None, repr=False)
    jwks_url: str | None = None

    def __post_init__(self) -> None:
        sources = [name for name in ("secret", "public_key", "jwks_url") if getattr(self, name)]
        if not sources:
            raise ConfigurationError(
                f"no JWT key configured: set one of {ENV_PUBLIC_KEY}, {ENV_JWKS_URL} or {ENV_SECRET}"
                " (or run in development mode, which generates a key)"
            )
        if len(sources) > 1:
            raise ConfigurationError(f"configure exactly one JWT key source, got {', '.join(sources)}")
        if self.secret is not None and len(self.secret.encode("utf-8")) < MIN_SECRET_BYTES:
            raise ConfigurationError(f"{ENV_SECRET} must be at least {MIN_SECRET_BYTES} bytes long")
        if self.jwks_url is not None and not self.jwks_url.startswith(("https://", "http://")):
            raise ConfigurationError(f"{ENV_JWKS_URL} must be an http(s) URL")
        if not self.audience:
            raise ConfigurationError(f"{ENV_AUDIENCE} must not be empty")
        if self.public_key is not None:
            _load_public_key(self.public_key)

    @property
    def algorithms(self) -> tuple[str, ...]:
        if self.secret is not None:
            return ("HS256",)
        if self.public_key is not None:
            return _load_public_key(self.public_key)
        return _JWKS_ALGORITHMS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AuthSettings:
        """Production settings. The public key may be given as PEM text or as the path of a PEM file."""
        env = os.environ if environ is None else environ
        public_key = env.get(ENV_PUBLIC_KEY) or None
        if public_key is not None and not public_key.lstrip().startswith("-----BEGIN"):
            try:
                with open(public_key, encoding="utf-8") as fh:
                    public_key = fh.read()
            except OSError as exc:
                raise ConfigurationError(f"{ENV_PUBLIC_KEY}: cannot read PEM file ({exc.strerror})") from None
        return cls(
            audience=env.get(ENV_AUDIENCE) or DEFAULT_AUDIENCE,
            issuer=env.get(ENV_ISSUER) or None,
            secret=env.get(ENV_SECRET) or None,
            public_key=public_key,
            jwks_url=env.get(ENV_JWKS_URL) or None,
        )


class TokenVerifier:
    """Verifies bearer tokens for one `AuthSettings`; holds the JWKS client so keys are cached."""

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self._jwks = jwt.PyJWKClient(settings.jwks_url, timeout=5) if settings.jwks_url else None
        self._algorithms = list(settings.algorithms)

    def _key(self, token: str) -> Any:
        if self._jwks is None:
            return self.settings.secret if self.settings.secret is not None else self.settings.public_key
        try:
            return self._jwks.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientConnectionError:
            raise errors.PluginUnavailable("the identity provider's JWKS endpoint is unreachable") from None
        except jwt.PyJWTError:
            raise InvalidToken(
                "the token is malformed or its signing key is not published by the identity provider"
            ) from None

    def verify(self, token: str) -> SecurityCtx:
        """Token → SecurityCtx through the runtime's verifier (`exp`, `sub` required; `aud` always checked)."""
        try:
            return tokens.verify_bearer(
                token,
                key=self._key(token),
                algorithms=self._algorithms,
                audience=self.settings.audience,
                issuer=self.settings.issuer,
            )
        except errors.Unauthenticated as exc:
            raise InvalidToken(exc.detail) from None


def mint_token(
    settings: AuthSettings,
    *,
    subject: str,
    roles: Iterable[str],
    now: datetime.datetime,
    ttl: datetime.timedelta,
    tenant: str | None = None,
) -> str:
    """An HS256 token accepted by `settings` (development and tests; production tokens come from an IdP)."""
    if settings.secret is None:
        raise ConfigurationError("tokens can only be minted with an HS256 secret")
    claims: dict[str, Any] = {
        "sub": subject,
        "aud": settings.audience,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
        "roles": sorted(roles),
    }
    if settings.issuer is not None:
        claims["iss"] = settings.issuer
    if tenant is not None:
        claims["tenant"] = tenant
    return jwt.encode(claims, settings.secret, algorithm="HS256")


def generate_api_secret() -> str:
    """A random HS256 secret for the dev API (well above `MIN_SECRET_BYTES`)."""
    return secrets.token_urlsafe(48)


#: Audience of the executor tokens `make run` mints for its runtimes.
DEV_RUNTIME_AUDIENCE = "plugin-runtime"


@dataclasses.dataclass(frozen=True)
class DevAuth:
    """Throwaway keys plus the tokens `make run` prints: admin, write and read tokens for the API
    (HS256), and an executor token for the runtimes (ES256, carrying the execute role), whose public
    key the runtimes are told (`runtime_auth`)."""

    settings: AuthSettings
    admin_token: str = dataclasses.field(repr=False)
    write_token: str = dataclasses.field(repr=False)
    read_token: str = dataclasses.field(repr=False)
    execute_token: str = dataclasses.field(repr=False)
    executor_public_key: str = dataclasses.field(repr=False)
    executor_private_key: str = dataclasses.field(repr=False)

    @classmethod
    def generate(
        cls,
        *,
        clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
        ttl: datetime.timedelta = datetime.timedelta(hours=12),
    ) -> DevAuth:
        """Fresh keys (tests); `make run` keeps its keys in the state directory (`from_keys`)."""
        return cls.from_keys(generate_api_secret(), control_plane.generate_pem(), clock=clock, ttl=ttl)

    @classmethod
    def from_keys(
        cls,
        api_secret: str,
        executor_private_key: str,
        *,
        clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
        ttl: datetime.timedelta = datetime.timedelta(hours=12),
    ) -> DevAuth:
        """Tokens minted now from given keys: the API's HS256 secret and the executor's EC P-256 PEM.

        The executor's public key is part of every runtime's config, so the same keys on the next start
        mean the same runtimes (adopted, not rolled); tokens minted earlier stay valid until they expire.
        """
        settings = AuthSettings(issuer=DEV_ISSUER, secret=api_secret)
        now = clock()
        public_pem = control_plane.ControlPlaneKey(executor_private_key).public_pem
        return cls(
            settings=settings,
            admin_token=mint_token(settings, subject="dev-admin", roles=[Role.ADMIN], now=now, ttl=ttl),
            write_token=mint_token(settings, subject="dev-writer", roles=[Role.WRITE], now=now, ttl=ttl),
            read_token=mint_token(settings, subject="dev-reader", roles=[Role.READ], now=now, ttl=ttl),
            execute_token=mint_executor_token(executor_private_key, subject="dev-executor", now=now, ttl=ttl),
            executor_public_key=public_pem,
            executor_private_key=executor_private_key,
        )

    @property
    def runtime_auth(self) -> config.IncomingAuth:
        """What runtimes are told to trust for executor tokens (the control plane's key is added by
        the operator)."""
        return config.IncomingAuth(
            mode="jwt",
            public_key=self.executor_public_key,
            audience=DEV_RUNTIME_AUDIENCE,
            issuer=DEV_ISSUER,
            algorithms=["ES256"],
        )

    def executor_token(self, *, roles: Iterable[str] = (config.EXECUTE_ROLE,), subject: str = "dev-executor") -> str:
        """Another executor token (tests: other roles, other subjects)."""
        now = datetime.datetime.now(datetime.UTC)
        return mint_executor_token(
            self.executor_private_key, subject=subject, roles=roles, now=now, ttl=datetime.timedelta(hours=1)
        )


def mint_executor_token(
    private_pem: str,
    *,
    subject: str,
    now: datetime.datetime,
    ttl: datetime.timedelta,
    roles: Iterable[str] = (config.EXECUTE_ROLE,),
    tenant: str | None = None,
) -> str:
    """An ES256 token for runtimes configured with `DevAuth.runtime_auth` (development and tests)."""
    claims: dict[str, Any] = {
        "sub": subject,
        "iss": DEV_ISSUER,
        "aud": DEV_RUNTIME_AUDIENCE,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
        "roles": sorted(roles),
    }
    if tenant is not None:
        claims["tenant"] = tenant
    return jwt.encode(claims, private_pem, algorithm="ES256")
