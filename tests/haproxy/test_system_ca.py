"""The system CA store is left out of a check only where it cannot change the answer (`check_environment`):
HAProxy 3.4 reads `SSL_CERT_DIR` and spends about half of a small check loading the store for its HTTP client;
a configuration that names none of `SYSTEM_CA_READERS` gets exactly the same output from the real binary
without it (every eligible real-world configuration), and one that names it keeps it."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from haproxy_guard.policies.haproxy.directives import code_loads
from haproxy_guard.policies.haproxy.render import ConfigBundle
from haproxy_guard.policies.haproxy.validator import (
    NO_SYSTEM_CA,
    Validator,
    check_environment,
    discover_binaries,
    launch_command,
)

CORPUS = Path(__file__).parent / "corpus" / "real-world"
BINARIES = discover_binaries()
PLAIN = """global
  maxconn 100
defaults
  mode http
  timeout client 5s
  timeout server 5s
  timeout connect 5s
frontend web
  bind :8080
  default_backend app
backend app
  server s1 127.0.0.1:80
"""
SYSTEM_CA_SERVER = PLAIN.replace("127.0.0.1:80", "127.0.0.1:443 ssl verify required ca-file @system-ca")
_PID = re.compile(r"\(\d+\)")
# No network, as the validator runs it (a name in the configuration fails at once instead of waiting on DNS).
ISOLATE = ["unshare", "--user", "--map-root-user", "--net", "--"] if shutil.which("unshare") else []


def _bundle(text: str, env: dict[str, str] | None = None) -> ConfigBundle:
    return ConfigBundle((("haproxy.cfg", text),), env=env or {})


def test_a_configuration_that_names_no_ca_reader_runs_without_the_store() -> None:
    assert check_environment(_bundle(PLAIN, {"PORT": "8080"})) == {"PORT": "8080", "SSL_CERT_DIR": NO_SYSTEM_CA}


@pytest.mark.parametrize(
    ("text", "env"),
    [
        (SYSTEM_CA_SERVER, {}),
        (PLAIN.replace("maxconn 100", "maxconn 100\n  httpclient.ssl.verify required"), {}),
        (PLAIN.replace("maxconn 100", "maxconn 100\n  HTTPCLIENT.SSL.CA-FILE /x"), {}),
        (PLAIN + "acme le\n  directory https://acme.example/directory\n", {}),
        (PLAIN.replace("bind :8080", "bind :8443 ssl crt site.pem ocsp-update on"), {}),
        (PLAIN.replace("127.0.0.1:80", "127.0.0.1:443 ssl ca-file $CA"), {"CA": "@system-ca"}),
    ],
    ids=["ca-file", "httpclient", "upper-case", "acme", "ocsp", "variable"],
)
def test_a_configuration_that_names_a_ca_reader_keeps_the_store(text: str, env: dict[str, str]) -> None:
    assert "SSL_CERT_DIR" not in check_environment(_bundle(text, env))


def test_a_containers_own_ssl_cert_dir_is_kept() -> None:
    assert check_environment(_bundle(PLAIN, {"SSL_CERT_DIR": "/etc/pki/tls"})) == {"SSL_CERT_DIR": "/etc/pki/tls"}


def _raw(version: str, text: bytes, env: dict[str, str]) -> tuple[int, str]:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "haproxy.cfg").write_bytes(text)
        result = subprocess.run(
            [*ISOLATE, *launch_command(BINARIES[version]), "-c", "-dr", "-f", "haproxy.cfg"],
            capture_output=True, env=env, timeout=60, check=False, cwd=folder,
        )  # fmt: skip
    return result.returncode, _PID.sub("(PID)", (result.stdout + result.stderr).decode("utf-8", "replace"))


@pytest.fixture(scope="module")
def latest() -> str:
    if "3.4" not in BINARIES:
        pytest.fail("HAProxy 3.4 is missing: run `make validators` (`make test` does)", pytrace=False)
    return "3.4"


def test_the_store_matters_to_a_configuration_that_names_it(latest: str) -> None:
    """Why the readers keep the store: 3.4 honours SSL_CERT_DIR, and `ca-file @system-ca` fails without it."""
    assert _raw(latest, SYSTEM_CA_SERVER.encode(), {})[0] == 0
    code, output = _raw(latest, SYSTEM_CA_SERVER.encode(), {"SSL_CERT_DIR": NO_SYSTEM_CA})
    assert code != 0 and "unable to load @system-ca" in output
    result = Validator(BINARIES).validate(_bundle(SYSTEM_CA_SERVER), latest)
    assert result.valid, [str(message) for message in result.errors]


def test_every_eligible_real_world_configuration_gets_the_same_output_without_the_store(latest: str) -> None:
    """Return code and every line of output (process ids aside), the real HAProxy 3.4, with and without the
    system CA store, for each corpus configuration `check_environment` would run without it."""
    eligible = []
    for path in sorted(CORPUS.glob("*.cfg")):
        text = path.read_text(encoding="utf-8", errors="replace")
        bundle = _bundle(text)
        if "SSL_CERT_DIR" in check_environment(bundle) and not list(code_loads(bundle.configs, {}, latest)):
            eligible.append(path.read_bytes())
    assert len(eligible) >= 250

    def differs(data: bytes) -> str | None:
        with_store = _raw(latest, data, {})
        without = _raw(latest, data, {"SSL_CERT_DIR": NO_SYSTEM_CA})
        return None if with_store == without else f"{with_store} != {without}"

    with ThreadPoolExecutor(max_workers=2) as pool:
        differences = [difference for difference in pool.map(differs, eligible) if difference]
    assert differences == []
