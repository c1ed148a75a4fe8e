"""`haproxy-guard serve` usage errors: one line, exit 2, no traceback, nothing started."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from haproxy_guard.certs.authority import generate
from haproxy_guard.cli.arguments import build_parser
from tests.conftest import start_server, stop_server
from tests.helpers import ROOT


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "haproxy_guard.cli.main", *args], capture_output=True, text=True, check=False, timeout=60
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["serve"], "HTTPS only", id="no-certificate"),
        pytest.param(["serve", "--self-signed"], "--self-signed needs --cert-dir", id="self-signed-without-dir"),
        pytest.param(["serve", "--cert-dir", "/x", "--tls-cert", "/y"], "not both", id="both-forms"),
        pytest.param(["serve", "--cert-dir", "/nonexistent"], "cannot read certificate", id="missing-files"),
        pytest.param(
            ["serve", "--cert-dir", "/tmp", "--settings", "/nonexistent.yaml"], "nonexistent.yaml", id="settings"
        ),
    ],
)
def test_serve_usage_errors(args: list[str], message: str) -> None:
    result = _run(*args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_self_signed_creates_certificates_once(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    server = start_server(certs, tmp_path / "log", ["--self-signed"])
    try:
        assert (certs / "ca.crt").exists() and (certs / "tls.key").exists()
        first = (certs / "tls.crt").read_bytes()
    finally:
        stop_server(server)
    server = start_server(certs, tmp_path / "log2", ["--self-signed"])
    stop_server(server)
    assert (certs / "tls.crt").read_bytes() == first, "existing certificates are reused"


def test_serving_with_explicit_certificate_files(tmp_path: Path) -> None:
    files = generate(tmp_path / "elsewhere", ["localhost"])
    renamed_cert, renamed_key = tmp_path / "server.pem", tmp_path / "server-key.pem"
    files.cert.rename(renamed_cert)
    files.key.rename(renamed_key)
    server = start_server(
        tmp_path / "elsewhere",
        tmp_path / "log",
        certificate_args=["--tls-cert", str(renamed_cert), "--tls-key", str(renamed_key)],
    )
    try:
        with server.client() as client:
            assert client.get("/readyz").status_code == 200
    finally:
        stop_server(server)


def test_serve_defaults_follow_the_contract() -> None:
    args = build_parser().parse_args(["serve", "--cert-dir", "/certs"])
    assert (args.host, args.port) == ("0.0.0.0", 8443)


def test_the_command_line_imports_no_server_or_certificate_library_it_does_not_need() -> None:
    # `audit`, `mutate` and `check-config` run in CI gates and pre-commit hooks: every import is paid on every
    # call (cryptography alone was 80 ms of the 380 ms start-up); they load when a command or a check needs them
    code = "import sys, haproxy_guard.cli.main; print(sorted(m for m in sys.modules if m.split('.')[0] in %r))"
    heavy = ("cryptography", "uvicorn", "fastapi", "starlette", "kubernetes")
    found = subprocess.run([sys.executable, "-c", code % (heavy,)], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"


def test_the_console_script_leaves_its_objects_frozen_for_a_short_exit() -> None:
    # the collector's full passes at interpreter shutdown walked everything a large audit left (0.1-0.2 s)
    code = (
        "import gc, sys; from haproxy_guard.cli import entry; "
        "code = entry.main(['audit', sys.argv[1], '--format', 'json']); "
        "print('frozen', gc.get_freeze_count(), 'code', code, file=sys.stderr)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "examples")], capture_output=True, text=True, check=False, timeout=120
    )
    words = result.stderr.split()
    assert words[words.index("frozen") + 1] != "0" and words[-1] == "1", result.stderr
    assert json.loads(result.stdout)["summary"]["deny"] > 0
