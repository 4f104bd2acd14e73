"""Token verification, the role hierarchy and the production configuration checks (no HTTP API here)."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from plugin_operator import security
from plugin_operator.security import Role
from plugin_runtime import errors
from plugin_runtime.interface import SecurityCtx

from . import http_stub

NOW = datetime.datetime.now(datetime.UTC)
HOUR = datetime.timedelta(hours=1)
SECRET = "s" * 40


def _claims(**overrides: object) -> dict[str, object]:
    claims: dict[str, object] = {
        "sub": "alice",
        "aud": security.DEFAULT_AUDIENCE,
        "exp": int((NOW + HOUR).timestamp()),
        "roles": [Role.READ.value],
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def _pem(public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> str:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


# Roles ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("granted", "allowed", "refused"),
    [
        ([Role.READ], {Role.READ}, {Role.WRITE, Role.ADMIN}),
        ([Role.WRITE], {Role.READ, Role.WRITE}, {Role.ADMIN}),
        ([Role.ADMIN], {Role.READ, Role.WRITE, Role.ADMIN}, set()),
        (["analytics:queries:read", "openid"], set(), {Role.READ, Role.WRITE, Role.ADMIN}),
    ],
)
def test_role_hierarchy(granted: list[str], allowed: set[Role], refused: set[Role]) -> None:
    ctx = SecurityCtx(subject="alice", roles=frozenset(granted))
    for role in allowed:
        security.authorize(ctx, role)
    for role in refused:
        with pytest.raises(errors.Forbidden, match=role.value):
            security.authorize(ctx, role)


@pytest.mark.parametrize(
    "role_claims",
    [
        {"roles": [Role.WRITE.value]},
        {"scope": f"openid {Role.WRITE.value} profile"},
        {"scp": Role.WRITE.value},
        {"scp": [Role.WRITE.value]},
    ],
)
def test_roles_come_from_roles_scope_or_scp(role_claims: dict[str, object]) -> None:
    settings = security.AuthSettings(secret=SECRET)
    token = jwt.encode({**_claims(roles=None), **role_claims}, SECRET, algorithm="HS256")
    ctx = security.TokenVerifier(settings).verify(token)
    assert security.effective_roles(ctx.roles) == {Role.READ, Role.WRITE}


# Verification ----------------------------------------------------------------------------------------


def test_hs256_token_gives_subject_tenant_and_roles() -> None:
    settings = security.AuthSettings(secret=SECRET, issuer="idp")
    token = jwt.encode(_claims(iss="idp", tid="tenant-7"), SECRET, algorithm="HS256")
    ctx = security.TokenVerifier(settings).verify(token)
    assert (ctx.subject, ctx.tenant, ctx.roles) == ("alice", "tenant-7", frozenset({Role.READ.value}))


@pytest.mark.parametrize(
    ("claims", "key", "reason"),
    [
        (_claims(exp=int((NOW - HOUR).timestamp())), SECRET, "expired"),
        (_claims(aud="another-service"), SECRET, "(?i)audience"),
        (_claims(aud=None), SECRET, "aud"),
        (_claims(exp=None), SECRET, "exp"),
        (_claims(sub=None), SECRET, "sub"),
        (_claims(), "x" * 40, "Signature"),
    ],
    ids=["expired", "wrong-audience", "no-audience", "no-expiry", "no-subject", "bad-signature"],
)
def test_unacceptable_tokens_are_refused_without_echoing_them(claims: dict[str, object], key: str, reason: str) -> None:
    token = jwt.encode(claims, key, algorithm="HS256")
    with pytest.raises(security.InvalidToken, match=reason) as raised:
        security.TokenVerifier(security.AuthSettings(secret=SECRET)).verify(token)
    assert raised.value.status == 401
    assert token not in str(raised.value) and token not in json.dumps(raised.value.to_problem())


def test_issuer_is_checked_when_configured() -> None:
    verifier = security.TokenVerifier(security.AuthSettings(secret=SECRET, issuer="https://idp.example"))
    for claims in (_claims(iss="https://evil.example"), _claims()):
        with pytest.raises(security.InvalidToken, match="iss"):
            verifier.verify(jwt.encode(claims, SECRET, algorithm="HS256"))


def test_garbage_is_an_invalid_token() -> None:
    with pytest.raises(security.InvalidToken):
        security.TokenVerifier(security.AuthSettings(secret=SECRET)).verify("not.a.jwt")


def test_rs256_public_key(rsa_key: rsa.RSAPrivateKey) -> None:
    settings = security.AuthSettings(public_key=_pem(rsa_key.public_key()))
    assert settings.algorithms == ("RS256",)
    verifier = security.TokenVerifier(settings)
    assert verifier.verify(jwt.encode(_claims(), rsa_key, algorithm="RS256")).subject == "alice"
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(security.InvalidToken):
        verifier.verify(jwt.encode(_claims(), other, algorithm="RS256"))


def test_es256_public_key(ec_key: ec.EllipticCurvePrivateKey) -> None:
    settings = security.AuthSettings(public_key=_pem(ec_key.public_key()))
    assert settings.algorithms == ("ES256",)
    assert security.TokenVerifier(settings).verify(jwt.encode(_claims(), ec_key, algorithm="ES256")).subject == "alice"


def test_public_key_cannot_be_used_as_an_hmac_secret(rsa_key: rsa.RSAPrivateKey) -> None:
    """Algorithm confusion: an HS256 token whose HMAC key is the public PEM must not verify."""
    pem = _pem(rsa_key.public_key())
    encode = jwt.utils.base64url_encode
    signing_input = (
        encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + b"." + encode(json.dumps(_claims()).encode())
    )
    token = (signing_input + b"." + encode(hmac.new(pem.encode(), signing_input, hashlib.sha256).digest())).decode()
    with pytest.raises(security.InvalidToken, match="alg"):
        security.TokenVerifier(security.AuthSettings(public_key=pem)).verify(token)


@pytest.fixture
def jwks(rsa_key: rsa.RSAPrivateKey) -> Iterator[http_stub.StubServer]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    jwk.update(kid="key-1", use="sig", alg="RS256")
    for server in http_stub.running():
        server.routes["/jwks.json"] = lambda _: http_stub.Reply(body={"keys": [jwk]})
        yield server


def test_jwks_url(rsa_key: rsa.RSAPrivateKey, jwks: http_stub.StubServer) -> None:
    verifier = security.TokenVerifier(security.AuthSettings(jwks_url=f"{jwks.url}/jwks.json"))
    token = jwt.encode(_claims(), rsa_key, algorithm="RS256", headers={"kid": "key-1"})
    assert verifier.verify(token).subject == "alice"
    unknown_kid = jwt.encode(_claims(), rsa_key, algorithm="RS256", headers={"kid": "key-2"})
    with pytest.raises(security.InvalidToken):
        verifier.verify(unknown_kid)


def test_unreachable_jwks_is_unavailable_not_unauthenticated(rsa_key: rsa.RSAPrivateKey) -> None:
    verifier = security.TokenVerifier(security.AuthSettings(jwks_url=f"{http_stub.refused_url()}/jwks.json"))
    with pytest.raises(errors.PluginUnavailable, match="JWKS"):
        verifier.verify(jwt.encode(_claims(), rsa_key, algorithm="RS256", headers={"kid": "key-1"}))


# Configuration -------------------------------------------------------------------------------------


def test_from_env_refuses_to_start_without_a_key() -> None:
    with pytest.raises(security.ConfigurationError, match=security.ENV_PUBLIC_KEY):
        security.AuthSettings.from_env({})


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({security.ENV_SECRET: "short"}, "at least 32 bytes"),
        ({security.ENV_SECRET: SECRET, security.ENV_JWKS_URL: "https://idp/jwks"}, "exactly one"),
        ({security.ENV_JWKS_URL: "file:///etc/keys"}, "http"),
        ({security.ENV_PUBLIC_KEY: "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----"}, "not a PEM"),
        ({security.ENV_PUBLIC_KEY: "/nonexistent/key.pem"}, "cannot read"),
    ],
)
def test_from_env_refuses_unusable_settings(environ: dict[str, str], message: str) -> None:
    with pytest.raises(security.ConfigurationError, match=message):
        security.AuthSettings.from_env(environ)


def test_from_env_reads_every_setting(tmp_path: Path, ec_key: ec.EllipticCurvePrivateKey) -> None:
    pem_file = tmp_path / "key.pem"
    pem_file.write_text(_pem(ec_key.public_key()))
    settings = security.AuthSettings.from_env(
        {
            security.ENV_PUBLIC_KEY: str(pem_file),
            security.ENV_AUDIENCE: "analytics-api",
            security.ENV_ISSUER: "https://idp.example",
        }
    )
    assert (settings.audience, settings.issuer, settings.algorithms) == (
        "analytics-api",
        "https://idp.example",
        ("ES256",),
    )
    token = jwt.encode(_claims(aud="analytics-api", iss="https://idp.example"), ec_key, algorithm="ES256")
    assert security.TokenVerifier(settings).verify(token).subject == "alice"


def test_settings_repr_hides_the_secret() -> None:
    assert SECRET not in repr(security.AuthSettings(secret=SECRET))


def test_dev_auth_mints_an_admin_and_a_read_only_token() -> None:
    dev = security.DevAuth.generate()
    verifier = security.TokenVerifier(dev.settings)
    admin, reader = verifier.verify(dev.admin_token), verifier.verify(dev.read_token)
    assert security.effective_roles(admin.roles) == set(Role)
    assert security.effective_roles(reader.roles) == {Role.READ}
    assert dev.settings.secret is not None and len(dev.settings.secret) >= security.MIN_SECRET_BYTES
    assert dev.admin_token not in repr(dev) and dev.settings.secret not in repr(dev)
    assert security.DevAuth.generate().settings.secret != dev.settings.secret


def test_minting_needs_a_shared_secret(rsa_key: rsa.RSAPrivateKey) -> None:
    settings = security.AuthSettings(public_key=_pem(rsa_key.public_key()))
    with pytest.raises(security.ConfigurationError):
        security.mint_token(settings, subject="x", roles=[Role.READ], now=NOW, ttl=HOUR)
