"""The default verifying TLS context of the HTTP adapters: shared, its CA bundle loaded on the first TLS
connection (not at every plugin's init), and never a handshake without it — against real HTTPS servers."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adapters._common import tls
from tests.adapters import pki, servers


def _ok(request: servers.Request) -> servers.Reply:
    return servers.Reply(200, {"ok": True})


@pytest.fixture(scope="module")
def authority() -> pki.Authority:
    return pki.authority()


@pytest.fixture
def https_server(authority: pki.Authority) -> Iterator[servers.Server]:
    with servers.serving(_ok, tls=authority.server_context(require_client_cert=False)) as server:
        yield server


def test_the_default_context_is_shared_and_loads_no_ca_until_a_tls_connection() -> None:
    first = tls.context(verify=True, ca_pem=None, cert_pem=None, key_pem=None)
    second = tls.context(verify=True, ca_pem=None, cert_pem=None, key_pem=None)
    assert isinstance(first, ssl.SSLContext) and first is second
    assert first.verify_mode == ssl.CERT_REQUIRED and first.check_hostname
    assert tls.context(verify=False, ca_pem=None, cert_pem=None, key_pem=None) is False


def test_a_server_outside_the_trusted_cas_is_refused(https_server: servers.Server) -> None:
    context = tls._DeferredTrustContext(ssl.PROTOCOL_TLS_CLIENT)
    assert context.cert_store_stats()["x509_ca"] == 0  # nothing parsed yet
    with httpx.Client(verify=context) as client, pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        client.get(https_server.url)
    assert context.cert_store_stats()["x509_ca"] > 100  # the bundle was loaded before the handshake
    assert https_server.requests == []


def test_the_trust_source_is_httpxs_and_is_read_at_the_first_connection(
    https_server: servers.Server, authority: pki.Authority, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = tls._DeferredTrustContext(ssl.PROTOCOL_TLS_CLIENT)
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(authority.ca.cert)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    with httpx.Client(verify=context) as client:
        assert client.get(https_server.url).json() == {"ok": True}
    assert context.cert_store_stats()["x509_ca"] == 1
    # The hostname is still checked: the server's certificate names 127.0.0.1, not localhost.
    with httpx.Client(verify=context) as client, pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        client.get(https_server.url.replace("127.0.0.1", "localhost"))
