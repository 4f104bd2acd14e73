"""The control plane's own credential towards plugin runtimes: an ES256 key and short-lived tokens.

Runtimes require a verified token on everything but their liveness/readiness probes, and the
operator calls them too: health probes, `/metadata`, smoke queries, the API's `/translate`
previews. Those calls carry a token the operator signs with its control-plane key; runtimes are
told the matching *public* key in their rendered config (a public key is not a secret, so it may sit
in a ConfigMap), and accept tokens with `iss` plugin-operator and `aud` plugin-runtime signed by it.

Tokens live `TOKEN_TTL_SECONDS` and are re-minted when two thirds of that has passed, so a leaked
one is useless a minute later. The key must be stable: its public half is part of every runtime's
config (and so of every instance identity), so a new key rolls every runtime. Locally it is kept in
the state directory (`control-plane.pem`, mode 0600, generated on first start); in Kubernetes it
comes from a Secret (`PLUGIN_OPERATOR_CONTROL_PLANE_KEY`, the chart's `controlPlane.existingSecret`)
so every operator replica signs with the same key.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from plugin_operator import secretfile
from plugin_runtime.config import CONTROL_PLANE_AUDIENCE, CONTROL_PLANE_ISSUER, EXECUTE_ROLE

__all__ = ["ControlPlaneKey", "InvalidControlPlaneKey", "generate_pem", "load_or_create", "public_pem"]

TOKEN_TTL_SECONDS = 60
KEY_FILE = "control-plane.pem"
SUBJECT = "system:plugin-operator"


class InvalidControlPlaneKey(ValueError):
    """The configured key is not a PEM EC P-256 private key; the operator must not start with it."""


def generate_pem() -> str:
    """A new EC P-256 private key as PKCS#8 PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


class ControlPlaneKey:
    """The private key and the public PEM runtimes are told; mints the operator's tokens."""

    def __init__(self, private_pem: str, *, clock: Callable[[], float] = time.time) -> None:
        try:
            key = serialization.load_pem_private_key(private_pem.strip().encode("ascii"), password=None)
        except (ValueError, TypeError, UnicodeEncodeError) as exc:
            raise InvalidControlPlaneKey(
                f"the control-plane key is not an unencrypted PEM private key ({exc})"
            ) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise InvalidControlPlaneKey("the control-plane key must be an EC P-256 (prime256v1) private key")
        self._key = key
        self._clock = clock
        self.public_pem = (
            key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode("ascii")
        )

    def __repr__(self) -> str:
        return "ControlPlaneKey(<private>)"

    def mint(self, *, roles: Iterable[str] = (EXECUTE_ROLE,), ttl: int = TOKEN_TTL_SECONDS) -> str:
        now = int(self._clock())
        claims = {
            "iss": CONTROL_PLANE_ISSUER,
            "aud": CONTROL_PLANE_AUDIENCE,
            "sub": SUBJECT,
            "roles": sorted(roles),
            "iat": now,
            "exp": now + ttl,
        }
        return jwt.encode(claims, self._key, algorithm="ES256")


def load_or_create(path: Path) -> str:
    """The PEM kept at `path`, generated (mode 0600) when the file does not exist yet; replicas sharing
    a state directory that start together all read one key (`secretfile`)."""
    return secretfile.load_or_create(path, generate_pem) + "\n"


@functools.lru_cache(maxsize=4)
def public_pem(private_pem: str) -> str:
    """The public half runtimes are told (cached: every render asks for it)."""
    return ControlPlaneKey(private_pem).public_pem
