"""HTTPS for the sandbox: a throwaway self-signed certificate, and the server context that serves it.

Every platform is served over HTTPS, so each new connection to one costs a TLS handshake; the sandbox serves
plain HTTP unless it is given a context, and with one from here it costs the same handshake. Clients trust the
certificate by being pointed at its file (requests' ``verify=``, or ``REQUESTS_CA_BUNDLE``), never by turning
verification off, so the handshake they measure includes verifying the certificate as in production.
"""

from __future__ import annotations

import ipaddress
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CERTIFICATE_FILE = "sandbox-certificate.pem"
KEY_FILE = "sandbox-key.pem"
VALID_FOR = timedelta(days=1)
CLOCK_SKEW = timedelta(minutes=5)


def write_self_signed_certificate(folder: Path, address: str = "127.0.0.1") -> tuple[Path, Path]:
    """Write a new key and a certificate for the IP *address*, signed by that key, into *folder*; returns the
    certificate's path and the key's.

    The key is ECDSA P-256, as the large platforms present, so a client verifies the same kind of signature
    and agrees the same ECDHE key as it would with them. The certificate is valid for a day.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"campaign sandbox at {address}")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + VALID_FOR)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    certificate_path, key_path = folder / CERTIFICATE_FILE, folder / KEY_FILE
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.touch(mode=0o600)
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ))
    return certificate_path, key_path


def trusting(certificate: Path) -> dict[str, str]:
    """The environment in which Python's TLS clients trust *certificate*: requests reads ``REQUESTS_CA_BUNDLE``
    (when an adapter is made), the ssl module's default context and httpx read ``SSL_CERT_FILE``."""
    return {"REQUESTS_CA_BUNDLE": str(certificate), "SSL_CERT_FILE": str(certificate)}


def server_context(certificate: Path, key: Path) -> ssl.SSLContext:
    """The TLS context a server presenting *certificate* (with its *key*) serves with."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate, key)
    return context
