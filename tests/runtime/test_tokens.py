"""Bearer tokens in (verified into a SecurityCtx) and out (signed after before_jwt_sign, audited)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import http.server
import io
import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from devservices.http import serving
from plugin_runtime import config as runtime_config
from plugin_runtime import errors, logs, tokens

from .conftest import Serve
from .support import GOOD_QUERY, plugin_entry

HMAC_KEY = "hmac-key-for-tests-0123456789abcdef"
AUDIENCE = "plugin-runtime"
EXECUTE = runtime_config.EXECUTE_ROLE


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"sub": "alice", "aud": AUDIENCE, "iss": "idp", "iat": now, "exp": now + 60, "roles": [EXECUTE]}
    return {**base, **overrides}


def hs256(**overrides: Any) -> str:
    return jwt.encode(claims(**overrides), HMAC_KEY, algorithm="HS256")


def jwt_config(plugins_dir: Path, **auth: Any) -> dict[str, Any]:
    return {
        "plugins_dir": str(plugins_dir),
        "auth": {"mode": "jwt", "audience": AUDIENCE, "issuer": "idp", **auth},
        "plugins": [plugin_entry("good")],
    }


def first_row(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()["value"][0]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        # Tokens are minted when the test runs (not at collection): a long suite must not expire them.
        (lambda: None, "a bearer token is required"),
        (
            lambda: jwt.encode(claims(), "another-key-of-the-same-length-0123", algorithm="HS256"),
            "Signature verification failed",
        ),
        (lambda: hs256(exp=int(time.time()) - 10), "Signature has expired"),
        (lambda: hs256(aud="someone-else"), "Audience doesn't match"),
        (lambda: hs256(iss="mallory"), "Invalid issuer"),
        (lambda: jwt.encode({k: v for k, v in claims().items() if k != "exp"}, HMAC_KEY, algorithm="HS256"), '"exp"'),
    ],
)
def test_jwt_mode_rejects_missing_and_invalid_tokens_with_401(
    serve: Serve, plugins_dir: Path, make_token: Callable[[], str | None], reason: str
) -> None:
    token = make_token()
    with serve(jwt_config(plugins_dir, public_key_env="JWT_KEY"), environ={"JWT_KEY": HMAC_KEY}) as runtime:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        for path in (f"/queries/{GOOD_QUERY}", f"/queries/{GOOD_QUERY}/translate", "/tests/good-items"):
            response = runtime.get(path, headers=headers)
            assert response.status_code == 401
            assert response.headers["WWW-Authenticate"] == "Bearer"
            assert reason in response.json()["detail"]
        assert runtime.get("/health/live").status_code == 200  # kubelet's probes stay open
        assert runtime.get("/health/ready").json() == {"status": "ready"}
        assert runtime.get("/health", headers=headers).status_code == 401  # the detailed document does not


def test_valid_token_becomes_the_security_context(serve: Serve, plugins_dir: Path) -> None:
    with serve(jwt_config(plugins_dir, public_key_env="JWT_KEY"), environ={"JWT_KEY": HMAC_KEY}) as runtime:
        token = hs256(tid="tenant-7", roles=["analyst", EXECUTE], scope="metrics:read dashboards:read")
        row = first_row(runtime.get(f"/queries/{GOOD_QUERY}", headers={"Authorization": f"Bearer {token}"}))
        assert (row["subject"], row["tenant"]) == ("alice", "tenant-7")
        assert row["roles"] == ["analyst", EXECUTE, "dashboards:read", "metrics:read"]


def test_auth_none_is_anonymous(serve: Serve, plugins_dir: Path) -> None:
    with serve({"plugins_dir": str(plugins_dir), "plugins": [plugin_entry("good")]}) as runtime:
        row = first_row(runtime.get(f"/queries/{GOOD_QUERY}"))
        assert (row["subject"], row["tenant"], row["roles"], row["token"]) == ("anonymous", None, [], None)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def forge_hs256(payload: dict[str, Any], *, secret: bytes) -> str:
    """By hand: PyJWT itself refuses to use a PEM key as an HMAC secret."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = part(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signing_input = f"{header}.{part(json.dumps(payload).encode())}"
    return f"{signing_input}.{part(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def test_rs256_with_a_pem_public_key_and_no_algorithm_confusion(
    serve: Serve, plugins_dir: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    pem = public_pem(rsa_key)
    with serve(jwt_config(plugins_dir, public_key_env="JWT_PUBLIC_KEY"), environ={"JWT_PUBLIC_KEY": pem}) as runtime:
        good = jwt.encode(claims(sub="bob"), rsa_key, algorithm="RS256")
        assert (
            first_row(runtime.get(f"/queries/{GOOD_QUERY}", headers={"Authorization": f"Bearer {good}"}))["subject"]
            == "bob"
        )
        # An attacker signing HS256 with the public key as the HMAC secret gets nowhere.
        forged = forge_hs256(claims(sub="mallory"), secret=pem.encode())
        assert runtime.get(f"/queries/{GOOD_QUERY}", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


@contextlib.contextmanager
def jwks_server(document: dict[str, Any]) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(document).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    with serving(Handler) as url:
        yield f"{url}/jwks.json"


def test_jwks_url_keys_are_fetched_and_used(serve: Serve, plugins_dir: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    with (
        jwks_server({"keys": [jwk | {"kid": "k1", "use": "sig", "alg": "RS256"}]}) as url,
        serve(jwt_config(plugins_dir, jwks_url=url, algorithms=["RS256"])) as runtime,
    ):
        token = jwt.encode(claims(sub="carol"), rsa_key, algorithm="RS256", headers={"kid": "k1"})
        assert (
            first_row(runtime.get(f"/queries/{GOOD_QUERY}", headers={"Authorization": f"Bearer {token}"}))["subject"]
            == "carol"
        )
        unknown_kid = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "k2"})
        response = runtime.get(f"/queries/{GOOD_QUERY}", headers={"Authorization": f"Bearer {unknown_kid}"})
        assert response.status_code == 401


def test_jwks_verification_goes_to_a_thread_only_when_it_may_fetch_keys(rsa_key: rsa.RSAPrivateKey) -> None:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    with jwks_server({"keys": [jwk | {"kid": "k1", "use": "sig", "alg": "RS256"}]}) as url:
        settings = runtime_config.IncomingAuth(mode="jwt", jwks_url=url, audience=AUDIENCE, algorithms=["RS256"])
        auth = tokens.IncomingAuth(settings, environ={})
        known = "Bearer " + jwt.encode(claims(sub="carol"), rsa_key, algorithm="RS256", headers={"kid": "k1"})
        unknown = "Bearer " + jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "k2"})

        assert auth.may_fetch_keys(known)  # nothing cached yet
        assert auth.authenticate(known).subject == "carol"
        assert not auth.may_fetch_keys(known)  # the cached key set holds k1: verified inline
        assert auth.may_fetch_keys(unknown)  # a kid not in the cache triggers a refresh
        assert not auth.may_fetch_keys("Bearer not-a-jwt")  # rejected before any key lookup
        assert not auth.may_fetch_keys(None)

    hmac_auth = tokens.IncomingAuth(
        runtime_config.IncomingAuth(mode="jwt", public_key_env="K"), environ={"K": HMAC_KEY}
    )
    assert not hmac_auth.may_fetch_keys(f"Bearer {hs256()}")


def test_outgoing_token_is_signed_after_the_plugin_hook_and_audited(serve: Serve, plugins_dir: Path) -> None:
    config = jwt_config(plugins_dir, public_key_env="JWT_KEY") | {
        "outgoing_jwt": {"signing_key_env": "OUT_KEY", "audience": "backend", "ttl_seconds": 120}
    }
    audit_lines = io.StringIO()
    handler = logging.StreamHandler(audit_lines)
    handler.setFormatter(logs.JsonFormatter())
    audit = logging.getLogger(logs.AUDIT_LOGGER)
    audit.addHandler(handler)
    audit.setLevel(logging.INFO)
    out_key = "outgoing-signing-key-0123456789abcdef"
    try:
        with serve(config, environ={"JWT_KEY": HMAC_KEY, "OUT_KEY": out_key}) as runtime:
            incoming = hs256(tenant="t1", roles=["viewer", EXECUTE])
            row = first_row(runtime.get(f"/queries/{GOOD_QUERY}", headers={"Authorization": f"Bearer {incoming}"}))
            metrics = runtime.get("/metrics").text
    finally:
        audit.removeHandler(handler)
    outgoing = jwt.decode(row["token"], out_key, algorithms=["HS256"], audience="backend")
    assert outgoing["sub"] == "alice" and outgoing["tenant"] == "t1" and outgoing["roles"] == [EXECUTE, "viewer"]
    assert outgoing["iss"] == "hyperspot-plugin-runtime" and outgoing["exp"] - outgoing["iat"] == 120
    assert outgoing["plugin_claim"] == "added-by-good"  # before_jwt_sign ran
    assert 'plugin_runtime_outgoing_tokens_total{plugin="good"} 1.0' in metrics
    (line,) = audit_lines.getvalue().splitlines()
    entry = json.loads(line)
    assert {k: entry[k] for k in ("subject", "tenant", "plugin_id", "query_id", "outcome")} == {
        "subject": "alice",
        "tenant": "t1",
        "plugin_id": "good",
        "query_id": GOOD_QUERY,
        "outcome": "ok",
    }
    assert row["token"] not in line and incoming not in line


def test_signer_keeps_issuer_and_lifetime_whatever_the_hook_returns() -> None:
    signer = tokens.OutgoingSigner(
        runtime_config.OutgoingJwt(signing_key_env="K", ttl_seconds=60), environ={"K": "k" * 32}, clock=lambda: 1000.0
    )
    token = signer.sign({"sub": "x", "iss": "forged", "exp": 10**10})
    decoded = jwt.decode(token, "k" * 32, algorithms=["HS256"], options={"verify_exp": False})
    assert (decoded["iss"], decoded["iat"], decoded["exp"]) == ("hyperspot-plugin-runtime", 1000, 1060)


def test_missing_key_variables_are_configuration_errors() -> None:
    with pytest.raises(errors.InvalidInput, match="JWT_KEY, which is not set"):
        tokens.IncomingAuth(runtime_config.IncomingAuth(mode="jwt", public_key_env="JWT_KEY"), environ={})
    with pytest.raises(errors.InvalidInput, match="OUT, which is not set"):
        tokens.OutgoingSigner(runtime_config.OutgoingJwt(signing_key_env="OUT"), environ={})


@pytest.mark.parametrize(
    ("raw", "tenant", "roles"),
    [
        ({"sub": "a", "tenant": "t", "roles": ["r1", "r2"]}, "t", {"r1", "r2"}),
        ({"sub": "a", "tid": "t2", "scp": "s1 s2"}, "t2", {"s1", "s2"}),
        ({"sub": "a", "scope": ["x"], "roles": "y"}, None, {"x", "y"}),
    ],
)
def test_claims_to_ctx(raw: dict[str, Any], tenant: str | None, roles: set[str]) -> None:
    ctx = tokens.claims_to_ctx(raw)
    assert (ctx.subject, ctx.tenant, set(ctx.roles)) == ("a", tenant, roles)
