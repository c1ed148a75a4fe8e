"""A workload's environment is submitted input: it must never choose code for a process, confined or not.

The break this suite keeps out (security issue 27, point 1): `LD_PRELOAD` naming a library shipped as a
`binaryData` key of the mounted ConfigMap (a harmless `setenv SO /usr/local/etc/haproxy/p.so` line makes the
renderer copy it into the sandbox), and more than 128 KiB of environment, which made the webhook start the
Python launcher itself with that environment: the library ran before any layer, as the webhook's user.
Here the library (`payloads/preload.c`) leaves a sentinel file wherever it can and exits 42.
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from haproxy_guard.policies.haproxy.bundle import ConfigBundle
from haproxy_guard.policies.haproxy.unsafe_env import unsecure
from haproxy_guard.policies.haproxy.validator import check_environment, discover_binaries
from tests.haproxy.hostile import PRELOAD_SENTINEL, USERS, compile_preload, public_folder, run_job

BINARIES = discover_binaries()
VERSIONS = sorted(BINARIES)
LARGE = {f"FILL{index}": "x" * (64 * 1024) for index in range(3)}  # > 128 KiB: the old direct path
CONFIG = (
    "global\n  setenv SO /usr/local/etc/haproxy/p.so\n"
    "defaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 1s\n"
    "frontend fe\n  bind :8080\n  default_backend be\nbackend be\n  server s 127.0.0.1:80\n"
)


@pytest.fixture(scope="module")
def preload() -> Iterator[Path]:
    folder = public_folder()
    try:
        yield compile_preload(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(autouse=True)
def no_sentinel() -> Iterator[None]:
    PRELOAD_SENTINEL.unlink(missing_ok=True)
    yield
    PRELOAD_SENTINEL.unlink(missing_ok=True)


def _sentinel() -> str:
    return PRELOAD_SENTINEL.read_text(errors="replace") if PRELOAD_SENTINEL.exists() else ""


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("path", ["fork-server", "direct"])
@pytest.mark.parametrize("size", ["small", "large"])
def test_the_environment_reaches_only_the_confined_process(preload: Path, user: str, path: str, size: str) -> None:
    """At the jail itself (which applies what it is given): the library may run, but only as the checked
    process, after every layer; never in the launcher, whatever the size of the environment or the path."""
    folder = public_folder()
    try:
        folder.chmod(0o777)  # the run as uid 65534 writes its output there
        shutil.copy(preload, folder / "p.so")
        (folder / "p.so").chmod(0o755)
        env = {"LD_PRELOAD": str(folder / "p.so"), **(LARGE if size == "large" else {})}
        job = {"kind": "jail", "command": ["/bin/true"], "folder": str(folder), "env": env, "timeout": 5.0,
               "direct": path == "direct"}  # fmt: skip
        result = run_job(user, job)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert _sentinel() == "", f"the preloaded library ran outside the jail: {_sentinel()!r}"
    assert result["returncode"] == 42 and result["missing"] == []  # it ran, confined: landlock kept the file out


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("size", ["small", "large"])
def test_a_submitted_loader_variable_never_reaches_a_check(preload: Path, user: str, version: str, size: str) -> None:
    """Through the whole validator, as a Deployment's env and a ConfigMap's binaryData give it: the library
    never runs at all (the answer is HAProxy's own), and the user is told which variable was left out."""
    env = {"LD_PRELOAD": "files/0-p.so", "LD_AUDIT": "files/0-p.so", **(LARGE if size == "large" else {})}
    job = {
        "kind": "validate",
        "configs": [["haproxy.cfg", CONFIG]],
        "files": {"/usr/local/etc/haproxy/p.so": base64.b64encode(preload.read_bytes()).decode()},
        "env": env,
        "version": version,
        "binaries": {version: BINARIES[version]},
        "timeout": 10.0,
    }
    result = run_job(user, job)
    assert _sentinel() == ""
    assert result["valid"], result["errors"]
    assert any("LD_AUDIT, LD_PRELOAD" in warning for warning in result["warnings"]), result["warnings"]


@pytest.mark.parametrize(
    "name",
    ["LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "GCONV_PATH", "GLIBC_TUNABLES", "OPENSSL_CONF", "OPENSSL_MODULES",
     "OPENSSL_ENGINES", "LUA_CPATH", "LUA_PATH_5_4", "LUA_INIT", "MALLOC_CONF", "LOCPATH", "NLSPATH", "HOSTALIASES",
     "SSLKEYLOGFILE", "TZDIR"],
)  # fmt: skip
def test_loader_libc_openssl_and_lua_variables_are_left_out(name: str) -> None:
    bundle = ConfigBundle((("haproxy.cfg", CONFIG),), env={name: "/x", "PORT": "8080", "SSL_CERT_DIR": "/etc/ca"})
    assert unsecure(name)
    assert check_environment(bundle) == {"PORT": "8080", "SSL_CERT_DIR": "/etc/ca"}


@pytest.mark.parametrize("name", ["PORT", "BACKEND", "SSL_CERT_DIR", "SSL_CERT_FILE", "HAPROXY_LOCALPEER", "LDAP_HOST"])
def test_ordinary_variables_stay(name: str) -> None:
    assert not unsecure(name)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_line_reading_a_removed_variable_is_not_denied(version: str) -> None:
    """Removing a variable must not turn into a false denial: the line reading it is reported as not
    checked (like a value only the pod knows)."""
    text = CONFIG.replace("  server s 127.0.0.1:80\n", '  server s "${LD_LIBRARY_PATH}"\n')
    job = {"kind": "validate", "configs": [["haproxy.cfg", text]], "env": {"LD_LIBRARY_PATH": "127.0.0.1:80"},
           "version": version, "binaries": {version: BINARIES[version]}}  # fmt: skip
    result = run_job("root", job)
    assert result["valid"], result["errors"]
    assert any("LD_LIBRARY_PATH" in warning for warning in result["warnings"])
