"""Creates a certificate authority and a serving certificate signed by it (ECDSA P-256, via `cryptography`).

The API server verifies webhook certificates with Go's x509, which ignores the common name: every name
the webhook is reached by must be a subjectAltName. Files are written atomically (temporary file, then
rename) so a server watching the folder never reads a half-written pair; the key is mode 0600.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_FILE, CERT_FILE, KEY_FILE = "ca.crt", "tls.crt", "tls.key"
DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")
CA_DAYS = 3650
BACKDATE = datetime.timedelta(minutes=5)  # tolerate clock skew between the signer and the API server


@dataclass(frozen=True, slots=True)
class GeneratedFiles:
    ca_cert: Path
    cert: Path
    key: Path


def service_names(service: str, namespace: str) -> list[str]:
    """The names the API server may use for a Service: NAME, NAME.NS, NAME.NS.svc."""
    return [service, f"{service}.{namespace}", f"{service}.{namespace}.svc"]


def _subject_alt_names(names: Iterable[str]) -> list[x509.GeneralName]:
    entries: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return entries


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _key_usage(*, signs_certificates: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _authority(key: ec.EllipticCurvePrivateKey, start: datetime.datetime, days: int) -> x509.Certificate:
    # a distinct subject per CA, so a bundle holding an old and a new CA tells them apart
    name = _name(f"haproxy-guard webhook CA {start:%Y-%m-%d} {x509.random_serial_number() % 10**6:06d}")
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signs_certificates=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _serving(  # noqa: PLR0917
    key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    names: Sequence[str],
    start: datetime.datetime,
    days: int,
) -> x509.Certificate:
    if not names:
        raise ValueError("a serving certificate needs at least one name")
    if days < 1:
        raise ValueError("--days must be at least 1")
    return (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(min(start + datetime.timedelta(days=days), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signs_certificates=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(_subject_alt_names(names)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), critical=False)  # type: ignore[arg-type]
        .sign(ca_key, hashes.SHA256())
    )


def issue(names: Sequence[str], days: int, now: datetime.datetime | None = None) -> tuple[bytes, bytes, bytes]:
    """A new CA certificate, serving certificate and serving key (PEM) for `names`."""
    if not names:
        raise ValueError("a serving certificate needs at least one name")
    if days < 1:
        raise ValueError("--days must be at least 1")
    ca_pem, ca_key = new_authority(max(CA_DAYS, days), now)
    cert, key = issue_serving(ca_pem, ca_key, names, days, now)
    return ca_pem, cert, key


def new_authority(days: int, now: datetime.datetime | None = None) -> tuple[bytes, bytes]:
    """A new CA: certificate and key (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _authority(key, (now or datetime.datetime.now(datetime.UTC)) - BACKDATE, days)
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def issue_serving(
    ca_pem: bytes, ca_key_pem: bytes, names: Sequence[str], days: int, now: datetime.datetime | None = None
) -> tuple[bytes, bytes]:
    """A serving certificate and key (PEM) for `names`, signed by the given CA."""
    ca_cert = x509.load_pem_x509_certificate(ca_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("the CA key must be an ECDSA key")
    key = ec.generate_private_key(ec.SECP256R1())
    start = (now or datetime.datetime.now(datetime.UTC)) - BACKDATE
    cert = _serving(key, ca_cert, ca_key, names, start, days)
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def generate(out_dir: Path, names: Sequence[str], days: int = 365) -> GeneratedFiles:
    """Write `ca.crt`, `tls.crt` and `tls.key` (0600) into `out_dir`, creating it (0700) if needed."""
    ca_pem, cert_pem, key_pem = issue(names, days)
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    files = GeneratedFiles(out_dir / CA_FILE, out_dir / CERT_FILE, out_dir / KEY_FILE)
    # a watcher may see the new key before the new certificate: it keeps the old pair until both match
    _write_atomically(files.key, key_pem, 0o600)
    _write_atomically(files.cert, cert_pem, 0o644)
    _write_atomically(files.ca_cert, ca_pem, 0o644)
    return files
