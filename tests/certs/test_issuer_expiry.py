"""The CA expiry behind `haproxy_guard_certificate_expiry_timestamp_seconds{certificate="ca"}`: the CA that
signed the served certificate, found by signature in the chain or in `ca.crt` (a rotation bundle holds two
CAs with the same name)."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from haproxy_guard.certs.authority import issue_serving, new_authority
from haproxy_guard.certs.reloader import CA_FILE, issuer_not_after


def _expiry(pem: bytes) -> float:
    return x509.load_pem_x509_certificate(pem).not_valid_after_utc.timestamp()


def test_the_issuer_is_found_by_signature_in_a_rotation_bundle(tmp_path: Path) -> None:
    old_ca, old_key = new_authority(400)
    new_ca, _ = new_authority(3650)
    served, _ = issue_serving(old_ca, old_key, ["localhost"], 30)
    (tmp_path / CA_FILE).write_bytes(new_ca + old_ca)  # same subject; only the old one signed `served`
    found = issuer_not_after(served, tmp_path)
    assert found is not None and found.timestamp() == _expiry(old_ca) != _expiry(new_ca)


def test_a_chain_that_carries_its_ca_needs_no_ca_file(tmp_path: Path) -> None:
    ca, key = new_authority(500)
    served, _ = issue_serving(ca, key, ["localhost"], 30)
    found = issuer_not_after(served + ca, tmp_path)
    assert found is not None and found.timestamp() == _expiry(ca)


def test_unknown_when_no_ca_is_at_hand(tmp_path: Path) -> None:
    ca, key = new_authority(500)
    other, _ = new_authority(500)
    served, _ = issue_serving(ca, key, ["localhost"], 30)
    assert issuer_not_after(served, tmp_path) is None
    (tmp_path / CA_FILE).write_bytes(other)
    assert issuer_not_after(served, tmp_path) is None
    (tmp_path / CA_FILE).write_bytes(b"not a certificate")
    assert issuer_not_after(served, tmp_path) is None
    assert issuer_not_after(b"garbage", tmp_path) is None
