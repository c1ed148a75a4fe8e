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


def issue(names: Sequence[str], days: int, now: datetime.datetime | None = None) -> tuple[bytes, bytes, bytes]:
    """A new CA certificate, serving certificate and serving key (PEM) for `names`."""
    if not names:
        raise ValueError("a serving certificate needs at least one name")
    if days < 1:
        raise ValueError("--days must be at least 1")
    start = (now or datetime.datetime.now(datetime.UTC)) - BACKDATE
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("haproxy-guard webhook CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=max(CA_DAYS, days)))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(_subject_alt_names(names)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return (
        ca_cert.public_bytes(serialization.Encoding.PEM),
        cert.public_bytes(serialization.Encoding.PEM),
        key_pem,
    )


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
