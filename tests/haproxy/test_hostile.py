"""Hostile ConfigMaps against the whole validator, as root and as uid 65534, on every validator branch:
host files read through escapes, unbraced variables and `default-path`; code through `ssl-provider` and
escaped or assembled `lua-load`; DNS from every address position; output, disk and post-processing
bounds. Each class failed before the kernel sandbox (see the security issue) and must never come back."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from haproxy_guard.policies.haproxy import config as config_module
from haproxy_guard.policies.haproxy import render as render_module
from haproxy_guard.policies.haproxy import validator as validator_module
from haproxy_guard.policies.haproxy.bundle import ConfigBundle
from haproxy_guard.policies.haproxy.sandbox import SandboxMode
from haproxy_guard.policies.haproxy.validator import Validator, discover_binaries
from tests.haproxy.hostile import (
    ADDRESS_TEMPLATES,
    REPOSITORY,
    USERS,
    compile_payloads,
    public_folder,
    run_job,
    secret_file,
)

BINARIES = discover_binaries()
VERSIONS = sorted(BINARIES)
SECRET = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2VuLTRmOWE.c2lnbmF0dXJlLTdiMmQ"
EXEC_SENTINEL = Path("/tmp/haproxy-guard-payload-exec")
HEADER = "defaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 1s\n"
TAIL = "  default_backend be\nbackend be\n  server s 127.0.0.1:80\n"


@pytest.fixture(scope="module")
def token() -> Iterator[Path]:
    """A file shaped like a service-account token, readable by every user: only the sandbox keeps it out."""
    with secret_file(SECRET) as path:
        yield path


@pytest.fixture(scope="module")
def payloads() -> Iterator[tuple[Path, Path]]:
    folder = public_folder()
    yield compile_payloads(folder)
    shutil.rmtree(folder, ignore_errors=True)


def _hex(text: str) -> str:
    return "".join(f"\\x{ord(char):02x}" if char == "/" else char for char in text)


def _check(user: str, version: str, config: str, files: dict[str, bytes] | None = None) -> dict[str, Any]:
    job = {"kind": "validate", "version": version, "configs": [["haproxy.cfg", config]],
           "files": {path: base64.b64encode(data).decode() for path, data in (files or {}).items()}}  # fmt: skip
    return run_job(user, job)


def _said(result: dict[str, Any]) -> str:
    return "\n".join([*result["errors"], *result["warnings"]])


def _leaky_configs(token: Path) -> dict[str, str]:
    """Ways to make HAProxy open the token file; each would quote its first line in an error."""
    folder, name = str(token.parent), token.name
    relative_from_root = str(token).lstrip("/")
    frontend = "frontend fe\n  bind :8080\n"
    return {
        "hex-escaped-quoted": f'{frontend}  acl a src -f "{_hex(str(token))}"\n{TAIL}',
        "hex-escaped-bare": f"{frontend}  acl a src -f {_hex(str(token))}\n{TAIL}",
        "unbraced-variables": f'global\n  setenv A {folder}/\n  setenv B {name}\n{frontend}  acl a src -f "$A$B"\n{TAIL}',
        "braced-variables": f'global\n  setenv A {folder}\n{frontend}  acl a src -f "${{A}}/{name}"\n{TAIL}',
        "word-expansion": f'global\n  setenv A "-f {token}"\n{frontend}  acl a src "${{A[*]}}"\n{TAIL}',
        "default-path-origin": f"global\n  default-path origin {folder}\n{frontend}  acl a src -f {name}\n{TAIL}",
        "default-path-origin-root": f"global\n  default-path origin /\n{frontend}  acl a src -f {relative_from_root}\n{TAIL}",
        "default-path-parent": f"global\n  default-path parent\n{frontend}  acl a src -f {'../' * 12}{relative_from_root}\n{TAIL}",
        "map-converter": f'{frontend}  http-request set-header X %[req.hdr(host),map("{_hex(str(token))}")]\n{TAIL}',
        "errorfile": f'{frontend}{TAIL}  errorfile 503 "{_hex(str(token))}"\n',
        "ca-file": f'{frontend}  default_backend be\nbackend be\n  server s 127.0.0.1:443 ssl ca-file "{_hex(str(token))}"\n',
        "crt": f'frontend fe\n  bind :8443 ssl crt "{_hex(str(token))}"\n{TAIL}',
        "proc-environ": f'{frontend}  acl a src -f "{_hex("/proc/1/environ")}"\n  acl b src -f "{_hex("/proc/self/environ")}"\n{TAIL}',
    }


@pytest.mark.slow
@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("case", list(_leaky_configs(Path("/x/token"))))
def test_no_host_file_reaches_an_answer(token: Path, user: str, version: str, case: str) -> None:
    result = _check(user, version, HEADER + _leaky_configs(token)[case])
    said = _said(result)
    assert SECRET not in said and "c2VjcmV0LXRva2Vu" not in said
    assert "PATH=" not in said and "HOME=" not in said


def _code_configs(provider_path: str) -> dict[str, str]:
    return {
        "ssl-provider": f"global\n  ssl-provider {provider_path}\n",
        "ssl-provider-hex": f'global\n  "ssl-pro\\x76ider" "{_hex(provider_path)}"\n',
        "ssl-provider-path": "global\n  ssl-provider-path /usr/local/etc/haproxy\n  ssl-provider evil\n",
        "ssl-engine": "global\n  ssl-engine rdrand\n",
        "lua-load-escaped": "global\n  lua-lo\\x61d /usr/local/etc/haproxy/evil.lua\n",
        "lua-load-quoted": "global\n  'lua-load' /usr/local/etc/haproxy/evil.lua\n",
        "lua-load-variable": 'global\n  setenv K lua-load\n  "$K" /usr/local/etc/haproxy/evil.lua\n',
        "lua-load-word-expansion": 'global\n  setenv K "lua-load /usr/local/etc/haproxy/evil.lua"\n  "${K[*]}"\n',
        "lua-load-default": 'global\n  "${NOPE-lua-load}" /usr/local/etc/haproxy/evil.lua\n',
        "lua-load-per-thread": "global\n  lua-load-per-thread /usr/local/etc/haproxy/evil.lua\n",
        "lua-prepend-path": "global\n  lua-prepend-path /usr/local/etc/haproxy/?.lua\n",
        "lua-in-taken-if": "global\n.if 1\n  lua-load /usr/local/etc/haproxy/evil.lua\n.endif\n",
        "lua-in-undecidable-if": "global\n.if feature(LUA)\n  lua-load /usr/local/etc/haproxy/evil.lua\n.endif\n",
        "keyword-from-localpeer": 'peers p\n  peer lua-load 127.0.0.1:10000\nglobal\n  "${HAPROXY_LOCALPEER}" /usr/local/etc/haproxy/evil.lua\n',
        "opentracing-filter": "frontend fe\n  bind :80\n  filter opentracing config /usr/local/etc/haproxy/ot.cfg\n",
    }


@pytest.mark.slow
@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("case", list(_code_configs("/p")))
def test_no_submitted_code_runs(payloads: tuple[Path, Path], user: str, version: str, case: str) -> None:
    EXEC_SENTINEL.unlink(missing_ok=True)
    provider_path = "/usr/local/etc/haproxy/evil.so"
    lua = f'os.execute("touch {EXEC_SENTINEL}")\n'.encode()
    files = {provider_path: payloads[0].read_bytes(), "/usr/local/etc/haproxy/evil.lua": lua}
    result = _check(user, version, _code_configs(provider_path)[case] + HEADER, files)
    assert not EXEC_SENTINEL.exists(), "submitted code ran in the validator"
    assert "ATTEMPT" not in _said(result)
    assert not result["valid"], "a configuration that loads code is refused, never silently allowed"
    assert " is refused: " in result["errors"][0]


def test_a_configuration_without_code_is_not_refused() -> None:
    validator = Validator(BINARIES)
    text = "global\n  tune.lua.maxmem 10\n.if defined(NOPE)\n  lua-load /x.lua\n.endif\n" + HEADER
    result = validator.validate(ConfigBundle((("haproxy.cfg", text),)))
    assert not any("refused" in str(message) for message in result.errors), result.errors


@pytest.mark.slow
@pytest.mark.parametrize("no_network_namespace", [False, True], ids=["all-layers", "seccomp-and-landlock-only"])
def test_no_name_is_ever_resolved(tmp_path: Path, no_network_namespace: bool) -> None:
    """A DNS listener on 127.0.0.1:53 in a private network and mount namespace (resolv.conf points at it)
    must see nothing from the validator, while a plain lookup in the same place reaches it (the control)."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "--user", "--map-root-user", "--net", "--mount", "true"], check=False).returncode:  # fmt: skip
        pytest.fail("user, network and mount namespaces are needed to observe DNS here")
    folder = public_folder()
    configs = [
        HEADER + template.format(name=f"q{index}.probe.test")
        for index, template in enumerate(ADDRESS_TEMPLATES.values())
    ]
    (folder / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    (folder / "configs").write_text("\0".join(configs))
    script = textwrap.dedent(
        f"""
        import socket, subprocess, sys, threading, time
        from haproxy_guard.policies.haproxy.bundle import ConfigBundle
        from haproxy_guard.policies.haproxy.validator import Validator, discover_binaries
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(("127.0.0.1", 53)); udp.settimeout(0.2)
        tcp = socket.socket(); tcp.bind(("127.0.0.1", 53)); tcp.listen(8); tcp.settimeout(0.2)
        seen = []
        def serve(sock, receive):
            while True:
                try: seen.append(receive(sock))
                except OSError: pass
        threading.Thread(target=serve, args=(udp, lambda s: s.recvfrom(512)[0]), daemon=True).start()
        threading.Thread(target=serve, args=(tcp, lambda s: s.accept()), daemon=True).start()
        validator = Validator(discover_binaries(), disabled_layers={("network_namespace",) if no_network_namespace else ()!r})
        configs = open("{folder}/configs").read().split("\\0")
        for version in sorted(validator.binaries):
            for text in configs:
                validator.validate(ConfigBundle((("haproxy.cfg", text),)), version)
        time.sleep(0.5)
        checked = len(seen)
        subprocess.run(["getent", "hosts", "control.probe.test"], check=False)
        time.sleep(0.5)
        print(checked, len(seen) - checked)
        """
    )
    shell = f'ip link set lo up && mount --bind {folder}/resolv.conf /etc/resolv.conf && exec {sys.executable} -c "$0"'
    completed = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--net", "--mount", "sh", "-c", shell, script],
        capture_output=True, text=True, cwd=REPOSITORY, timeout=300, check=False,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
    )  # fmt: skip
    shutil.rmtree(folder, ignore_errors=True)
    assert completed.returncode == 0, completed.stderr
    from_checks, from_control = (int(part) for part in completed.stdout.split()[-2:])
    assert from_control >= 1, "the control lookup did not reach the listener: this test would prove nothing"
    assert from_checks == 0, f"{from_checks} DNS packets or connections came from the validator"


def test_placeholders_are_bounded_in_count_and_bytes(tmp_path: Path) -> None:
    lines = "".join(
        f"  bind :{8000 + index % 1000} ssl crt /c/{index}.pem\n" for index in range(render_module.MAX_PLACEHOLDERS + 1)
    )
    result = Validator(BINARIES).validate(ConfigBundle((("haproxy.cfg", HEADER + "frontend fe\n" + lines),)))
    assert not result.valid
    assert f"more than {render_module.MAX_PLACEHOLDERS} files" in str(result.errors[0])
    folder = tmp_path / "render"
    folder.mkdir()
    few = "".join(f"  bind :{8000 + index} ssl crt /c/{index}.pem\n" for index in range(500))
    render_module.render(ConfigBundle((("haproxy.cfg", HEADER + "frontend fe\n" + few),)), folder)
    placeholders = list((folder / "files").iterdir())
    assert len(placeholders) == 500
    assert len({path.stat().st_ino for path in placeholders}) == 1, "identical stand-ins share one file"


FULL_DISK_SCRIPT = """
from haproxy_guard.policies.haproxy.bundle import ConfigBundle
from haproxy_guard.policies.haproxy.sandbox import SandboxMode
from haproxy_guard.policies.haproxy.validator import Validator, discover_binaries
config = "frontend f\\n  bind :80\\n  http-request set-var(txn.x) str(a),map(/etc/x/big.map)\\n"
bundle = ConfigBundle((("haproxy.cfg", config),), {"/etc/x/big.map": b"a" * 200_000})
validator = Validator(discover_binaries())
first, second = validator.validate(bundle), validator.validate(bundle)
print(first.unavailable, second.cached, first.errors[0])
"""


def test_a_full_disk_is_a_clear_answer(tmp_path: Path) -> None:
    """The sandbox folder on a 64 KiB tmpfs (in a private mount namespace): ENOSPC, answered, not cached."""
    mount = tmp_path / "small"
    mount.mkdir()
    shell = f'mount -t tmpfs -o size=64k tmpfs {mount} && TMPDIR={mount} exec {sys.executable} -c "$0"'
    completed = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", shell, FULL_DISK_SCRIPT],
        capture_output=True, text=True, cwd=REPOSITORY, timeout=120, check=False,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("True False "), completed.stdout
    assert "No space left on device" in completed.stdout


def test_post_processing_parses_each_file_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Thousands of messages on a large file: the configuration is parsed once, not once per message."""
    calls = 0
    real_parse = config_module.parse

    def counting_parse(text: str) -> Any:
        nonlocal calls
        calls += 1
        return real_parse(text)

    monkeypatch.setattr(validator_module, "parse", counting_parse)
    backends = "".join(
        f"frontend f{index}\n  bind :{1024 + index}\n  use_backend missing{index}\n" for index in range(2000)
    )
    result = Validator(BINARIES).validate(ConfigBundle((("haproxy.cfg", HEADER + backends),)), "2.8")
    assert not result.valid and len(result.errors) >= 50  # 2.8 reports each missing backend (3.x stops at one)
    assert calls <= 1


def test_messages_quote_only_the_submission() -> None:
    vocabulary = validator_module._Vocabulary(
        ConfigBundle((("haproxy.cfg", "frontend fe\n  bind :80\n"),)), BINARIES[VERSIONS[-1]]
    )
    assert not vocabulary.foreign("unknown keyword 'bind' in 'frontend' section")
    assert vocabulary.foreign(f"'{SECRET}' is not a valid IPv4 or IPv6 address at line 1 of file")


def test_a_message_quoting_a_host_file_is_withheld(token: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The answer filter is a layer of its own: with Landlock and the private root left out (best-effort) and
    no stand-in for `acl -f`, HAProxy does read the file and quote it; the message is replaced, the secret
    never leaves."""
    monkeypatch.setattr(render_module, "FILE_ARGUMENTS", frozenset())
    validator = Validator(
        BINARIES, sandbox_mode=SandboxMode.BEST_EFFORT, disabled_layers=("landlock", "mount_namespace")
    )
    text = HEADER + _leaky_configs(token)["hex-escaped-quoted"]
    result = validator.validate(ConfigBundle((("haproxy.cfg", text),)))
    assert not result.valid
    assert SECRET not in _said({"errors": [str(m) for m in result.errors], "warnings": []})
    assert str(result.errors[0]) == f"haproxy.cfg:8: {validator_module.WITHHELD}"


EXISTENCE_PROBES = {
    "default-path-origin": "global\n  default-path origin {folder}\n",
    "crt-store-ocsp": "crt-store web\n  load crt /etc/certs/site.pem ocsp {folder}/token\n",
    "chroot": "global\n  chroot {folder}\n",
    "log-socket": "global\n  log {folder}/token local0\n",
    "stats-socket": "global\n  stats socket {folder}/token\n",
    "server-state-file": "global\n  server-state-file {folder}/token\n",
    "acl-file": "frontend probe\n  bind :81\n  acl a src -f {folder}/token\n  default_backend be\n",
    "certificate": "frontend probe\n  bind :444 ssl crt {folder}/token\n  default_backend be\n",
    "redirect": "frontend probe\n  bind :82\n  http-request redirect location {folder}/token\n  default_backend be\n",
}


@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("probe", sorted(EXISTENCE_PROBES))
def test_answers_do_not_tell_whether_a_host_path_exists(version: str, probe: str, token: Path) -> None:
    """A path on the webhook's host gets the same answer whether it exists or not: stand-ins depend on where a
    path is written, never on the host's files (a 1-bit oracle on the webhook's file system otherwise)."""
    answers = []
    for folder in (token.parent, token.parent.with_name(token.parent.name + "-absent")):
        text = EXISTENCE_PROBES[probe].format(folder=folder) + HEADER + "frontend fe\n  bind :80\n" + TAIL
        result = Validator(BINARIES).validate(ConfigBundle((("haproxy.cfg", text),)), version)
        answers.append((result.valid, [str(m).replace(str(folder), "F") for m in result.errors + result.warnings]))
    assert answers[0] == answers[1]
