"""Placeholder files that stand in for what a pod gets from elsewhere (Secrets, other volumes).

A certificate path that the ConfigMap does not provide is assumed to come from a Secret; the validator
gets a self-signed certificate and key there, so `haproxy -c` checks the configuration, not the mounts.
Made once per process.
"""

from __future__ import annotations

import datetime
import functools

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ERROR_FILE = b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\n\r\nplaceholder\n"


@functools.cache
def _key_and_cert() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "haproxy-guard placeholder")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("placeholder.invalid")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


@functools.cache
def certificate_pem() -> bytes:
    """A certificate followed by its key: valid for `crt`, `ca-file` and `ca-verify-file`."""
    key, cert = _key_and_cert()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM) + key_pem


@functools.cache
def crl_pem() -> bytes:
    key, cert = _key_and_cert()
    now = datetime.datetime.now(datetime.UTC)
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(cert.subject)
        .last_update(now - datetime.timedelta(days=1))
        .next_update(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return crl.public_bytes(serialization.Encoding.PEM)
