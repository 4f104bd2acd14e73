"""TLS towards a backend: a private CA to trust, and a client certificate for mutual TLS.

The certificate and key arrive as PEM text in the plugin's secrets (`tls_client_cert`,
`tls_client_key`, e.g. the `tls.crt`/`tls.key` of a `kubernetes.io/tls` Secret). Python's `ssl`
loads a chain only from files, so both are written to a fresh directory only this process can read
(on the runtime's /tmp, an emptyDir in Kubernetes), loaded, and removed before this returns.
"""

from __future__ import annotations

import functools
import os
import ssl
import tempfile
import threading
from pathlib import Path
from typing import Any

import certifi

from plugin_runtime import errors

CLIENT_CERT = "tls_client_cert"
CLIENT_KEY = "tls_client_key"


def _trust_source() -> dict[str, str]:
    """Where httpx's default context takes its trusted CAs from (`httpx.create_ssl_context`)."""
    if os.environ.get("SSL_CERT_FILE"):
        return {"cafile": os.environ["SSL_CERT_FILE"]}
    if os.environ.get("SSL_CERT_DIR"):
        return {"capath": os.environ["SSL_CERT_DIR"]}
    return {"cafile": certifi.where()}


class _DeferredTrustContext(ssl.SSLContext):
    """A verifying client context (as `ssl.create_default_context` makes it: TLS client protocol,
    hostname check, certificate required) that loads its CA bundle on its first TLS connection.

    Parsing the bundle takes ~50 ms, which every plugin's `init` paid although many backends speak
    plain HTTP inside the cluster (bench.cold_load). Every TLS connection starts in `wrap_socket` or
    `wrap_bio`, and neither returns before the bundle is loaded, so no handshake runs without it.
    """

    _lock = threading.Lock()
    _trusted = False

    def _trust(self) -> None:
        with self._lock:
            if not self._trusted:
                self.load_verify_locations(**_trust_source())
                self._trusted = True

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        self._trust()
        return super().wrap_socket(*args, **kwargs)

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        self._trust()
        return super().wrap_bio(*args, **kwargs)


@functools.cache
def _default() -> ssl.SSLContext:
    """The default verifying context, one per process: shared by every client of every plugin."""
    return _DeferredTrustContext(ssl.PROTOCOL_TLS_CLIENT)


def context(*, verify: bool, ca_pem: str | None, cert_pem: str | None, key_pem: str | None) -> ssl.SSLContext | bool:
    """What httpx's `verify` takes: a context when a CA or client certificate is given, else the shared
    default context (or False when verification is off)."""
    if (cert_pem is None) != (key_pem is None):
        raise errors.InvalidInput(f"secrets: mutual TLS needs both {CLIENT_CERT} and {CLIENT_KEY}")
    if ca_pem is None and cert_pem is None:
        return _default() if verify else False
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if ca_pem is not None:
        try:
            ctx.load_verify_locations(cadata=ca_pem)
        except (ssl.SSLError, ValueError):
            raise errors.InvalidInput("settings: ca_certificate is not a PEM certificate") from None
    if cert_pem is not None and key_pem is not None:
        _load_client_certificate(ctx, cert_pem, key_pem)
    return ctx


def _load_client_certificate(ctx: ssl.SSLContext, cert_pem: str, key_pem: str) -> None:
    with tempfile.TemporaryDirectory(prefix="plugin-tls-") as directory:  # mode 0700
        cert_file, key_file = Path(directory) / "client.crt", Path(directory) / "client.key"
        for path, text in ((cert_file, cert_pem), (key_file, key_pem)):
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as fh:
                fh.write(text)
        try:
            ctx.load_cert_chain(cert_file, key_file)
        except (ssl.SSLError, ValueError):
            raise errors.InvalidInput(
                f"secrets: {CLIENT_CERT} and {CLIENT_KEY} are not a PEM certificate and its private key"
            ) from None
