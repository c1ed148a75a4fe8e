"""`haproxy-guard certs generate`: a CA, a serving certificate with every name, a private key file."""

from __future__ import annotations

import ipaddress
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store

from haproxy_guard.certs.authority import issue
from haproxy_guard.cli.main import main


def _verify(directory: Path, name: str) -> None:
    """Verify the chain like a TLS client would (cryptography's X.509 path validation)."""
    ca = x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes())
    leaf = x509.load_pem_x509_certificate((directory / "tls.crt").read_bytes())
    verifier = PolicyBuilder().store(Store([ca]))
    subject: x509.DNSName | x509.IPAddress
    try:
        subject = x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        subject = x509.DNSName(name)
    verifier.build_server_verifier(subject).verify(leaf, [])


def test_generate_for_a_service(tmp_path: Path) -> None:
    out = tmp_path / "certs"
    assert (
        main(
            [
                "certs",
                "generate",
                "--out",
                str(out),
                "--service",
                "haproxy-guard",
                "--namespace",
                "guard",
                "--dns",
                "extra.example",
                "--ip",
                "10.0.0.7",
                "--days",
                "30",
            ]
        )
        == 0
    )
    for name in ("haproxy-guard", "haproxy-guard.guard", "haproxy-guard.guard.svc", "extra.example", "10.0.0.7"):
        _verify(out, name)
    with pytest.raises(x509.verification.VerificationError):
        _verify(out, "haproxy-guard.other.svc")
    assert stat.S_IMODE((out / "tls.key").stat().st_mode) == 0o600
    leaf = x509.load_pem_x509_certificate((out / "tls.crt").read_bytes())
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert 30 <= lifetime.days <= 31


def test_default_names_are_for_local_use(tmp_path: Path) -> None:
    assert main(["certs", "generate", "--out", str(tmp_path)]) == 0
    for name in ("localhost", "127.0.0.1", "::1"):
        _verify(tmp_path, name)


def test_each_generation_makes_a_new_ca() -> None:
    first, second = issue(["a"], 1), issue(["a"], 1)
    assert first[0] != second[0] and first[2] != second[2]


def test_bad_arguments_exit_2_with_a_message(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "haproxy_guard.cli.main", "certs", "generate", "--out", str(tmp_path), "--days", "0"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "haproxy-guard: --days must be at least 1" in result.stderr
    assert "Traceback" not in result.stderr
