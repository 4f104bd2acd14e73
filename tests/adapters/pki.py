"""A throwaway certificate authority for TLS tests: a CA, a server certificate for 127.0.0.1 and
client certificates, as PEM text (what Kubernetes TLS Secrets hold)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import ssl
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclasses.dataclass(frozen=True)
class Pair:
    cert: str
    key: str


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _issue(
    name: str, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None, *, usage: x509.ObjectIdentifier | None
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, issuer_key = issuer if issuer is not None else (subject, key)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if usage == ExtendedKeyUsageOID.SERVER_AUTH:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256()), key


@dataclasses.dataclass(frozen=True)
class Authority:
    ca: Pair
    server: Pair
    client: Pair
    #: A client certificate from another CA: the server must refuse it.
    stranger: Pair

    def server_context(self, *, require_client_cert: bool) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory() as directory:
            cert, key = Path(directory) / "server.crt", Path(directory) / "server.key"
            cert.write_text(self.server.cert)
            key.write_text(self.server.key)
            context.load_cert_chain(cert, key)
        if require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cadata=self.ca.cert)
        return context


def authority() -> Authority:
    ca_cert, ca_key = _issue("test CA", None, usage=None)
    issuer = (ca_cert.subject, ca_key)

    def pair(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Pair:
        return Pair(cert.public_bytes(serialization.Encoding.PEM).decode(), _key_pem(key))

    other_ca = _issue("other CA", None, usage=None)
    return Authority(
        ca=pair(ca_cert, ca_key),
        server=pair(*_issue("127.0.0.1", issuer, usage=ExtendedKeyUsageOID.SERVER_AUTH)),
        client=pair(*_issue("plugin-runtime", issuer, usage=ExtendedKeyUsageOID.CLIENT_AUTH)),
        stranger=pair(*_issue("stranger", (other_ca[0].subject, other_ca[1]), usage=ExtendedKeyUsageOID.CLIENT_AUTH)),
    )
