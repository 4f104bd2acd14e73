"""Who may call what on a runtime with auth on (what the operator renders): the 401/403 matrix, the
control plane's own tokens, and a SecurityCtx that only the verified token decides."""

from __future__ import annotations

import datetime
import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from plugin_operator import control_plane, security
from plugin_runtime import config as runtime_config

from .conftest import Serve
from .support import GOOD_QUERY, plugin_entry

EXECUTE = runtime_config.EXECUTE_ROLE
DEV = security.DevAuth.generate()
CONTROL_PLANE_PEM = control_plane.generate_pem()
CONTROL_PLANE = control_plane.ControlPlaneKey(CONTROL_PLANE_PEM)

QUERY_PATHS = (f"/queries/{GOOD_QUERY}", f"/queries/{GOOD_QUERY}/translate", "/tests/good-items")
DOCUMENT_PATHS = ("/health", "/plugins/good/health", "/metadata", "/$metadata")


def auth_config(plugins_dir: Path) -> dict[str, Any]:
    auth = DEV.runtime_auth.model_copy(update={"control_plane_public_key": CONTROL_PLANE.public_pem})
    return {"plugins_dir": str(plugins_dir), "auth": auth.model_dump(), "plugins": [plugin_entry("good")]}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_no_token_401_a_token_without_the_role_403_the_execute_role_200(serve: Serve, plugins_dir: Path) -> None:
    reader = DEV.executor_token(roles=["analytics:plugins:read"])
    with serve(auth_config(plugins_dir)) as runtime:
        for path in QUERY_PATHS:
            anonymous = runtime.get(path)
            assert anonymous.status_code == 401, path
            assert anonymous.headers["content-type"] == "application/problem+json"
            assert anonymous.headers["WWW-Authenticate"] == "Bearer"
            refused = runtime.get(path, headers=bearer(reader))
            assert refused.status_code == 403, path
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["required_role"] == EXECUTE
            assert runtime.get(path, headers=bearer(DEV.execute_token)).status_code == 200, path
        for path in DOCUMENT_PATHS:  # any verified token reads them; nobody else
            assert runtime.get(path).status_code == 401, path
            assert runtime.get(path, headers=bearer(reader)).status_code == 200, path
        # kubelet's probes and the scrape stay open, and say nothing but up/down and counters.
        assert runtime.get("/health/live").json() == {"status": "alive"}
        assert runtime.get("/health/ready").json() == {"status": "ready"}
        assert runtime.get("/metrics").status_code == 200


def test_the_control_planes_short_lived_tokens_are_accepted_and_forgeries_are_not(
    serve: Serve, plugins_dir: Path
) -> None:
    other = control_plane.ControlPlaneKey(control_plane.generate_pem())
    now = int(time.time())
    expired = jwt.encode(
        {"iss": "plugin-operator", "aud": "plugin-runtime", "sub": "x", "roles": [EXECUTE], "exp": now - 5},
        CONTROL_PLANE_PEM,
        algorithm="ES256",
    )
    with serve(auth_config(plugins_dir)) as runtime:
        for path in (*QUERY_PATHS, *DOCUMENT_PATHS):
            assert runtime.get(path, headers=bearer(CONTROL_PLANE.mint())).status_code == 200, path
        # Claiming to be the control plane is not enough: the signature is checked against its key.
        assert runtime.get(QUERY_PATHS[0], headers=bearer(other.mint())).status_code == 401
        assert runtime.get(QUERY_PATHS[0], headers=bearer(expired)).status_code == 401
        # The executor's key cannot sign for the control plane either.
        forged = jwt.encode(
            {"iss": "plugin-operator", "aud": "plugin-runtime", "sub": "x", "roles": [EXECUTE], "exp": now + 60},
            DEV.executor_private_key,
            algorithm="ES256",
        )
        assert runtime.get(QUERY_PATHS[0], headers=bearer(forged)).status_code == 401


def test_security_context_comes_only_from_the_verified_token(serve: Serve, plugins_dir: Path) -> None:
    token = security.mint_executor_token(
        DEV.executor_private_key,
        subject="alice",
        tenant="t1",
        now=datetime.datetime.now(datetime.UTC),
        ttl=datetime.timedelta(minutes=5),
    )
    forged_headers = {
        **bearer(token),
        "X-Tenant": "t2",
        "X-Tenant-Id": "t2",
        "X-Subject": "admin",
        "X-User": "admin",
        "X-Roles": "analytics:plugins:admin",
        "X-Forwarded-User": "admin",
    }
    with serve(auth_config(plugins_dir)) as runtime:
        response = runtime.get(f"/queries/{GOOD_QUERY}", headers=forged_headers, params={"tenant": "t2"})
        assert response.status_code == 200, response.text
        row = response.json()["value"][0]
        assert (row["subject"], row["tenant"], row["roles"]) == ("alice", "t1", [EXECUTE])


@pytest.mark.parametrize("header", ["Bearer", "Basic dXNlcjpwYXNz", "bearer x.y", "Token abc"])
def test_malformed_authorization_headers_are_401(serve: Serve, plugins_dir: Path, header: str) -> None:
    with serve(auth_config(plugins_dir)) as runtime:
        assert runtime.get(QUERY_PATHS[0], headers={"Authorization": header}).status_code == 401


def test_a_plugin_without_the_execute_permission_answers_403_to_everyone(serve: Serve, plugins_dir: Path) -> None:
    config = auth_config(plugins_dir) | {"plugins": [plugin_entry("good", execute=False)]}
    with serve(config) as runtime:
        for path in (f"/queries/{GOOD_QUERY}", "/tests/good-items"):
            for token in (DEV.execute_token, CONTROL_PLANE.mint()):
                refused = runtime.get(path, headers=bearer(token))
                assert refused.status_code == 403, path
                assert refused.headers["content-type"] == "application/problem+json"
                problem = refused.json()
                assert problem["type"].endswith("/execute-not-permitted")
                assert "lacks execute" in problem["detail"]
        # Its metadata and health still answer (the operator's gate reads them); the breaker counted nothing.
        assert runtime.get("/metadata", headers=bearer(DEV.execute_token)).status_code == 200
        health = runtime.get("/plugins/good/health", headers=bearer(DEV.execute_token)).json()
        assert health["status"] == "healthy"
        assert health["circuit"] == "closed"
