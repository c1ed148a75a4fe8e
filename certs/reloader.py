"""Serves the certificate and key found on disk now, without a restart when they change.

Mounted Secrets are updated by swapping a symlink, which produces no event on the files themselves, so the
files' contents are hashed on a timer. A change builds a fresh SSLContext; the handshake callback hands each
new connection the newest good context. Connections already open keep theirs, and a half-written or
mismatched pair is ignored (the previous pair stays in service) until the files are consistent again.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import logging
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature

log = logging.getLogger(__name__)

TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
CA_FILE = "ca.crt"


def issuer_not_after(served: bytes, folder: Path) -> datetime.datetime | None:
    """When the CA that issued the served certificate expires: found among the certificates after the first
    in the served chain and in `ca.crt` beside it (cert-manager's and our Secrets' layout) by its signature;
    None when neither holds it."""
    try:
        chain = x509.load_pem_x509_certificates(served)
    except ValueError:
        return None
    candidates = list(chain[1:])
    with contextlib.suppress(OSError, ValueError):
        candidates += x509.load_pem_x509_certificates((folder / CA_FILE).read_bytes())
    matching = [candidate.not_valid_after_utc for candidate in candidates if _issued(chain[0], candidate)]
    return max(matching) if matching else None


def _issued(certificate: x509.Certificate, candidate: x509.Certificate) -> bool:
    """Whether `candidate` signed `certificate` (subject and signature: a CA and its successor share a name)."""
    try:
        certificate.verify_directly_issued_by(candidate)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


class CertificateError(Exception):
    """The certificate or key cannot be used (missing, unreadable, or not a matching pair)."""


class ReloadingCertificate:
    """An SSLContext for a server whose certificate is re-read from `cert_path`/`key_path` on `refresh()`."""

    def __init__(self, cert_path: Path, key_path: Path, min_version: str = "1.2") -> None:
        self.cert_path, self.key_path = cert_path, key_path
        self._min_version = TLS_VERSIONS[min_version]
        self._digest, self._current, self.not_after = self._load()
        self.ca_not_after = issuer_not_after(self.cert_path.read_bytes(), self.cert_path.parent)
        self.context = self._current
        self.context.sni_callback = self._select_context
        self.reloads = 0

    def _read(self) -> tuple[bytes, bytes]:
        try:
            return self.cert_path.read_bytes(), self.key_path.read_bytes()
        except OSError as error:
            raise CertificateError(f"cannot read certificate or key: {error}") from None

    def _build(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = self._min_version
        context.options |= ssl.OP_NO_COMPRESSION
        try:
            context.load_cert_chain(self.cert_path, self.key_path)
        except (OSError, ssl.SSLError) as error:
            raise CertificateError(f"{self.cert_path} / {self.key_path}: {error}") from None
        return context

    def _load(self) -> tuple[str, ssl.SSLContext, datetime.datetime]:
        """A context built from a pair whose content did not change while it was being loaded."""
        before = self._read()
        context = self._build()
        if self._read() != before:
            raise CertificateError("certificate files changed while loading; will retry")
        try:
            not_after = x509.load_pem_x509_certificate(before[0]).not_valid_after_utc
        except ValueError as error:
            raise CertificateError(f"{self.cert_path}: {error}") from None
        return hashlib.sha256(before[0] + b"\0" + before[1]).hexdigest(), context, not_after

    def _select_context(self, connection: ssl.SSLObject | ssl.SSLSocket, _name: str | None, _ctx: object) -> None:
        current = self._current
        if connection.context is not current:
            connection.context = current

    def problem(self) -> str | None:
        """Why the served certificate is unusable (expired), or None."""
        if self.not_after <= datetime.datetime.now(datetime.UTC):
            return f"the serving certificate expired at {self.not_after.isoformat()}"
        return None

    def refresh(self) -> bool:
        """Load the files again if their content changed; True when a new pair went into service."""
        try:
            cert, key = self._read()
        except CertificateError as error:
            log.warning("keeping the current certificate: %s", error)
            return False
        if hashlib.sha256(cert + b"\0" + key).hexdigest() == self._digest:
            return False
        try:
            digest, context, not_after = self._load()
        except CertificateError as error:
            log.warning("keeping the current certificate: %s", error)
            return False
        self._digest, self._current, self.not_after = digest, context, not_after
        self.ca_not_after = issuer_not_after(cert, self.cert_path.parent)
        self.reloads += 1
        log.info("serving a new certificate (valid until %s)", not_after.isoformat())
        return True
