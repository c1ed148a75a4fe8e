"""Certificate rotation without a moment where the API server distrusts the webhook.

The state lives in one Secret (or folder): `tls.crt`/`tls.key` (served), `ca.crt` (the trust bundle the
webhook configurations carry as caBundle: every CA that may have signed a served certificate),
`ca-signing.crt`/`ca-signing.key` (the CA that signs), and during a CA roll-over `ca-next.crt`/`ca-next.key`.

Each run (a CronJob, daily) makes at most one step, and the caller publishes the bundle before the
certificate, so the API server always knows the CA of whatever is served:
1. nothing yet: a CA and a serving certificate;
2. the signing CA nears expiry: a next CA joins the bundle (the served certificate is unchanged);
3. next run: the next CA becomes the signing CA and signs a new serving certificate;
4. the serving certificate nears expiry, or lacks a name: a new one from the signing CA (bundle unchanged);
5. CAs that expired leave the bundle.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from haproxy_guard.certs.authority import issue_serving, new_authority

TLS_CRT, TLS_KEY, CA_BUNDLE = "tls.crt", "tls.key", "ca.crt"
SIGNING_CRT, SIGNING_KEY, NEXT_CRT, NEXT_KEY = "ca-signing.crt", "ca-signing.key", "ca-next.crt", "ca-next.key"


@dataclass(frozen=True)
class Policy:
    names: tuple[str, ...]
    days: int = 365
    renew_before_days: int = 30
    ca_days: int = 3650
    ca_renew_before_days: int = 180


@dataclass(frozen=True)
class Step:
    data: dict[str, bytes]
    changed: bool
    reason: str

    @property
    def bundle(self) -> bytes:
        return self.data[CA_BUNDLE]


def _certificates(pem: bytes) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem) if pem.strip() else []


def _pem(certificates: Sequence[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def _names(certificate: x509.Certificate) -> set[str]:
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    dns = extension.get_values_for_type(x509.DNSName)
    ips = [str(ip) for ip in extension.get_values_for_type(x509.IPAddress)]
    return {*dns, *ips}


def step(current: dict[str, bytes] | None, policy: Policy, now: datetime.datetime) -> Step:
    """The next state of the certificate material (unchanged when nothing is due)."""
    if not current or not all(key in current for key in (TLS_CRT, TLS_KEY, CA_BUNDLE, SIGNING_CRT, SIGNING_KEY)):
        ca_pem, ca_key = new_authority(policy.ca_days, now)
        cert, key = issue_serving(ca_pem, ca_key, policy.names, policy.days, now)
        data = {TLS_CRT: cert, TLS_KEY: key, CA_BUNDLE: ca_pem, SIGNING_CRT: ca_pem, SIGNING_KEY: ca_key}
        return Step(data, True, "created a CA and a serving certificate")
    data = dict(current)
    bundle = [c for c in _certificates(data[CA_BUNDLE]) if c.not_valid_after_utc > now]
    signing = x509.load_pem_x509_certificate(data[SIGNING_CRT])
    served = x509.load_pem_x509_certificate(data[TLS_CRT])

    if NEXT_CRT in data:
        data[SIGNING_CRT], data[SIGNING_KEY] = data.pop(NEXT_CRT), data.pop(NEXT_KEY)
        data[TLS_CRT], data[TLS_KEY] = issue_serving(
            data[SIGNING_CRT], data[SIGNING_KEY], policy.names, policy.days, now
        )
        data[CA_BUNDLE] = _pem(bundle)
        return Step(data, True, "promoted the next CA and issued a serving certificate from it")
    if signing.not_valid_after_utc - now < datetime.timedelta(days=policy.ca_renew_before_days):
        next_pem, next_key = new_authority(policy.ca_days, now)
        data[NEXT_CRT], data[NEXT_KEY] = next_pem, next_key
        data[CA_BUNDLE] = _pem([*bundle, x509.load_pem_x509_certificate(next_pem)])
        return Step(data, True, "added the next CA to the bundle (it signs from the next run on)")
    renew = served.not_valid_after_utc - now < datetime.timedelta(days=policy.renew_before_days)
    missing = set(policy.names) - _names(served)
    if renew or missing or served.issuer != signing.subject:
        data[TLS_CRT], data[TLS_KEY] = issue_serving(
            data[SIGNING_CRT], data[SIGNING_KEY], policy.names, policy.days, now
        )
        data[CA_BUNDLE] = _pem(bundle)
        reason = "renewed the serving certificate" + (f" (missing names {sorted(missing)})" if missing else "")
        return Step(data, True, reason)
    pruned = _pem(bundle)
    if pruned != data[CA_BUNDLE]:
        data[CA_BUNDLE] = pruned
        return Step(data, True, "removed expired CAs from the bundle")
    return Step(data, False, "nothing due")
