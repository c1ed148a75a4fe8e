"""Placeholder files that stand in for what a pod gets from elsewhere (Secrets, other volumes).

A certificate path that the ConfigMap does not provide is assumed to come from a Secret; the validator
gets a self-signed certificate and key there, so `haproxy -c` checks the configuration, not the mounts.
Made once per process; cryptography is imported only then (most configurations need no certificate, and
the import costs every command line 60-80 ms).
"""

from __future__ import annotations

import base64
import datetime
import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

ERROR_FILE = b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\n\r\nplaceholder\n"


def _certificate(
    name: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name | None, signer: ec.EllipticCurvePrivateKey
) -> x509.Certificate:
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer or subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("placeholder.invalid")]), critical=False)
        .sign(signer, hashes.SHA256())
    )


@functools.cache
def _key_and_cert() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """The stand-in issuer (a self-signed CA)."""
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    return key, _certificate("haproxy-guard placeholder CA", key, None, key)


@functools.cache
def _leaf() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415

    ca_key, ca_cert = _key_and_cert()
    key = ec.generate_private_key(ec.SECP256R1())
    return key, _certificate("haproxy-guard placeholder", key, ca_cert.subject, ca_key)


@functools.cache
def certificate_pem() -> bytes:
    """A certificate, its key and its issuer (so OCSP can name it): valid for `crt`, `key`, `ca-file`,
    `ca-verify-file` and `issuer`."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    key, cert = _leaf()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    return (
        cert.public_bytes(serialization.Encoding.PEM)
        + key_pem
        + _key_and_cert()[1].public_bytes(serialization.Encoding.PEM)
    )


@functools.cache
def crl_pem() -> bytes:
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415

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


def ffdhe2048_prime() -> int:
    """The prime of RFC 7919's ffdhe2048 group (appendix A.1), computed from its definition:
    p = 2^2048 - 2^1984 + (floor(2^1918 * e) + 560316) * 2^64 - 1, with e summed exactly enough."""
    guard = 64  # extra bits: the truncation error of the series stays far below one unit of 2^1918
    scaled, term, k = 0, 1 << (1918 + guard), 0
    while term:
        scaled += term
        k += 1
        term //= k
    return (1 << 2048) - (1 << 1984) + ((scaled >> guard) + 560316) * (1 << 64) - 1


def _der_integer(value: int) -> bytes:
    body = value.to_bytes(value.bit_length() // 8 + 1, "big")  # a leading zero byte keeps it positive
    return b"\x02" + _der_length(len(body)) + body


def _der_length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    encoded = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded


@functools.cache
def dh_params_pem() -> bytes:
    """Standard Diffie-Hellman parameters (PKCS #3: ffdhe2048, generator 2) for `ssl-dh-param-file`: public
    and fixed, so nothing is generated per check (what `openssl genpkey -genparam -algorithm DH -pkeyopt
    dh_param:ffdhe2048` writes)."""
    body = _der_integer(ffdhe2048_prime()) + _der_integer(2)
    der = b"\x30" + _der_length(len(body)) + body
    encoded = base64.encodebytes(der).replace(b"\n", b"")
    lines = [encoded[index : index + 64] for index in range(0, len(encoded), 64)]
    return b"-----BEGIN DH PARAMETERS-----\n" + b"\n".join(lines) + b"\n-----END DH PARAMETERS-----\n"
