"""The system CA store is left out of a check only where it cannot change the answer (`reads_system_ca`):
HAProxy loads all of it for its HTTP client at every start, about half of a small check. Left out means
unreadable behind Landlock, and `SSL_CERT_DIR` at a missing folder for 3.4, which reads that variable. A
configuration that names none of `SYSTEM_CA_READERS` gets exactly the same answer without it, on every
branch, for every eligible real-world configuration; one that names it keeps it."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from haproxy_guard.policies.haproxy import sandbox
from haproxy_guard.policies.haproxy import validator as validator_module
from haproxy_guard.policies.haproxy.bundle import ConfigBundle
from haproxy_guard.policies.haproxy.directives import code_loads
from haproxy_guard.policies.haproxy.sandbox import Limits, SandboxMode
from haproxy_guard.policies.haproxy.validator import (
    NO_SYSTEM_CA,
    Validator,
    check_environment,
    discover_binaries,
    launch_command,
    reads_system_ca,
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


def _eligible(version: str) -> list[ConfigBundle]:
    bundles = []
    for path in sorted(CORPUS.glob("*.cfg")):
        bundle = _bundle(path.read_text(encoding="utf-8", errors="replace"))
        if not reads_system_ca(bundle) and not list(code_loads(bundle.configs, {}, version)):
            bundles.append(bundle)
    assert len(bundles) >= 250
    return bundles


def _answers(bundles: list[ConfigBundle], version: str) -> list[tuple[bool, list[str], list[str]]]:
    # a loaded machine (a fresh-machine run beside the suite) once pushed a check past the 3 s default: the
    # comparison is about HAProxy's answers, so each check gets 30 s and a check that still runs out fails
    validator = Validator({version: BINARIES[version]}, timeout_seconds=30)

    def answer(bundle: ConfigBundle) -> tuple[bool, list[str], list[str]]:
        result = validator.validate(bundle, version)
        assert not result.timed_out and not result.unavailable, [str(m) for m in result.errors]
        return result.valid, [str(m) for m in result.errors], [str(m) for m in result.warnings]

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(answer, bundles))


@pytest.mark.parametrize("version", sorted(BINARIES))
def test_every_eligible_real_world_configuration_gets_the_same_answer_without_the_store(
    version: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On every branch, the validator's whole answer (verdict, every error and warning) for each corpus
    configuration that names no CA reader is the same with the store (readable, `SSL_CERT_DIR` unset) as
    without it (Landlock keeps it unreadable, `SSL_CERT_DIR` at a missing folder)."""
    bundles = _eligible(version)
    without = _answers(bundles, version)
    monkeypatch.setattr(validator_module, "reads_system_ca", lambda bundle: True)
    with_store = _answers(bundles, version)
    differences = [
        f"{bundle.configs[0][1][:80]!r}: {kept} != {left_out}"
        for bundle, kept, left_out in zip(bundles, with_store, without, strict=True)
        if kept != left_out
    ]
    assert differences == []


def test_the_store_is_unreadable_only_for_checks_that_do_not_read_it(tmp_path: Path) -> None:
    """The Landlock rule itself: with `system_ca=False` the check cannot list the CA folder; by default it can."""
    # shell built-ins only (a check may exec nothing more): the glob expands only if the folder can be listed
    listing = ["/bin/sh", "-c", 'set -- /etc/ssl/certs/*; [ -e "$1" ] && echo readable || echo denied']
    for system_ca, expected in ((True, b"readable"), (False, b"denied")):
        folder = tmp_path / str(system_ca)
        folder.mkdir()
        result = sandbox.run(listing, folder, Limits(timeout_seconds=5.0), SandboxMode.REQUIRE, system_ca=system_ca)
        assert result.output.strip().endswith(expected), (system_ca, result)


BY_PATH = [
    PLAIN.replace("127.0.0.1:80", "127.0.0.1:443 ssl verify required ca-file /etc/ssl/certs/ca-certificates.crt"),
    PLAIN.replace("maxconn 100", "maxconn 100\n  ca-base /etc/ssl/certs").replace(
        "127.0.0.1:80", "127.0.0.1:443 ssl verify required ca-file ca-certificates.crt"
    ),
]


@pytest.mark.parametrize("version", sorted(BINARIES))
def test_a_ca_file_named_by_its_path_in_the_store_gets_the_same_answer(
    version: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Naming a file of the store by its path (Debian's default `ca-base /etc/ssl/certs`) is not a reader
    word: the file is one the pod has, and the answer is the same whether the webhook's own store is readable."""
    bundles = [_bundle(text) for text in BY_PATH]
    assert not any(reads_system_ca(bundle) for bundle in bundles)
    without = _answers(bundles, version)
    monkeypatch.setattr(validator_module, "reads_system_ca", lambda bundle: True)
    assert _answers(bundles, version) == without
    assert all(valid for valid, _, _ in without)


@pytest.mark.parametrize(("text", "store"), [(PLAIN, False), (SYSTEM_CA_SERVER, True)], ids=["plain", "reader"])
def test_the_validator_runs_each_check_with_the_store_only_when_it_reads_it(
    text: str, store: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wiring: what the validator asks of the sandbox for one check (the answers above are equal either
    way, so only this shows the store is really left out)."""
    calls: list[dict[str, object]] = []
    real_run = sandbox.run

    def spy(*args: object, **options: object) -> sandbox.JailResult:
        calls.append(options)
        return real_run(*args, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(validator_module, "run", spy)
    version = sorted(BINARIES)[-1]
    assert Validator({version: BINARIES[version]}).validate(_bundle(text), version).valid
    (options,) = calls
    assert options["system_ca"] is store
    assert ("SSL_CERT_DIR" in options["env"]) is not store  # type: ignore[operator]
