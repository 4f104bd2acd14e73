"""The operator tells its runtimes how to authenticate callers; the runtime verifies with what it is told."""

import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from plugin_operator import control_plane, desired, models, runtime_config
from plugin_operator.settings import OperatorSettings
from plugin_runtime import errors, tokens
from plugin_runtime.config import IncomingAuth


def _keys() -> tuple[str, str]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return private_pem, public_pem


def test_runtime_auth_is_on_by_default_and_off_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RUNTIME_JWKS_URL", "RUNTIME_JWT_PUBLIC_KEY", "RUNTIME_AUTH"):
        monkeypatch.delenv(f"PLUGIN_OPERATOR_{name}", raising=False)
    default = OperatorSettings.from_env().runtime_auth
    assert (default.mode, default.has_executor_keys) == ("jwt", False)
    assert OperatorSettings().runtime_auth.mode == "jwt"
    monkeypatch.setenv("PLUGIN_OPERATOR_RUNTIME_AUTH", "none")
    assert OperatorSettings.from_env().runtime_auth.mode == "none"
    monkeypatch.setenv("PLUGIN_OPERATOR_RUNTIME_AUTH", "off")
    with pytest.raises(ValueError, match="jwt or none"):
        OperatorSettings.from_env()


def test_rendered_runtime_config_trusts_the_control_plane_key() -> None:
    key = control_plane.generate_pem()
    auth = desired.runtime_auth(OperatorSettings(control_plane_key=key))
    assert (auth.mode, auth.control_plane_public_key) == ("jwt", control_plane.public_pem(key))
    assert "PRIVATE" not in (auth.control_plane_public_key or "")
    off = OperatorSettings(control_plane_key=key, runtime_auth=IncomingAuth(mode="none"))
    assert desired.runtime_auth(off).control_plane_public_key is None


def test_public_key_file_turns_jwt_on_and_reaches_the_runtime_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    private_pem, public_pem = _keys()
    (tmp_path / "key.pem").write_text(public_pem)
    monkeypatch.setenv("PLUGIN_OPERATOR_RUNTIME_JWT_PUBLIC_KEY", str(tmp_path / "key.pem"))
    monkeypatch.setenv("PLUGIN_OPERATOR_RUNTIME_JWT_AUDIENCE", "query-executor")
    auth = OperatorSettings.from_env().runtime_auth
    assert (auth.mode, auth.public_key, auth.audience) == ("jwt", public_pem, "query-executor")

    spec = models.PluginSpec.model_validate({"version": "1", "contractFormat": "native", "adapter": "localsql"})
    config = runtime_config.build(plugin_id="p", spec=spec, auth=auth)
    assert config.auth == auth

    def identity(auth: object) -> str:
        target = desired.Target(image="runtime:1", auth=auth)  # type: ignore[arg-type]
        return desired.instance(namespace="n", cr_name="p", uid="u", plugin_id="p", spec=spec, target=target).identity

    assert identity(auth) != identity(IncomingAuth())  # turning auth on rolls the runtimes

    incoming = tokens.IncomingAuth(config.auth, environ={})
    now = int(time.time())
    good = jwt.encode(
        {"sub": "executor", "aud": "query-executor", "iat": now, "exp": now + 60, "tenant": "t1"},
        private_pem,
        algorithm="RS256",
    )
    ctx = incoming.authenticate(f"Bearer {good}")
    assert (ctx.subject, ctx.tenant) == ("executor", "t1")
    wrong_audience = jwt.encode({"sub": "x", "aud": "other", "exp": now + 60}, private_pem, algorithm="RS256")
    with pytest.raises(errors.Unauthenticated):
        incoming.authenticate(f"Bearer {wrong_audience}")
    with pytest.raises(errors.Unauthenticated):
        incoming.authenticate(None)


def test_jwks_url_turns_jwt_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLUGIN_OPERATOR_RUNTIME_JWT_PUBLIC_KEY", raising=False)
    monkeypatch.setenv("PLUGIN_OPERATOR_RUNTIME_JWKS_URL", "https://idp.example/jwks.json")
    auth = OperatorSettings.from_env().runtime_auth
    assert auth == IncomingAuth(mode="jwt", jwks_url="https://idp.example/jwks.json", algorithms=["RS256", "ES256"])
