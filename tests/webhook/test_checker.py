"""Privilege separation (security issue 27, point 1): the checks run in a `haproxy-guard checker` process of
their own, reached over a Unix socket with a framed, bounded protocol; the webhook gives the same answers as
with checks in process, answers "not checked" (never a deny, never cached) while the checker is down, and
says so in `/readyz`; the checker stops on SIGTERM with checks in flight."""

from __future__ import annotations

import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from haproxy_guard.policies.context import Context
from haproxy_guard.policies.engine import check
from haproxy_guard.policies.haproxy.bundle import ConfigBundle
from haproxy_guard.policies.haproxy.validator import Validator, discover_binaries
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.webhook.checker import (
    MAX_REQUEST_BYTES,
    NOT_ANSWERING,
    RemoteValidator,
    bundle_from_wire,
    bundle_to_wire,
    receive_frame,
    send_frame,
)
from tests.haproxy.hostile import compile_payloads, processes_of, public_folder

BINARIES = discover_binaries()
CORPUS = Path(__file__).resolve().parents[1] / "haproxy" / "corpus"
VALID = (
    "defaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 1s\nfrontend f\n  bind :8080\n"
)
INVALID = VALID + "  bogus-keyword 1\n"


def _start(socket_path: Path, settings: Path | None = None) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "haproxy_guard.cli", "checker", "--socket", str(socket_path)]
    if settings is not None:
        command += ["--settings", str(settings)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not _listening(socket_path):  # a stale socket of a killed checker stays until the new one starts
        assert process.poll() is None, "the checker exited at start-up"
        assert time.monotonic() < deadline, "the checker did not start"
        time.sleep(0.05)
    return process


def _listening(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as sock:
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def checker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("checker") / "checker.sock"
    process = _start(path)
    try:
        yield path
    finally:
        _stop(process)


def _remote(path: Path) -> RemoteValidator:
    return RemoteValidator(path, BINARIES, timeout_seconds=10.0)


@pytest.mark.parametrize("version", sorted(BINARIES))
def test_the_checker_answers_like_a_check_in_process(checker: Path, version: str) -> None:
    remote, local = _remote(checker), Validator(BINARIES, timeout_seconds=10.0)
    configs = [VALID, INVALID] + [path.read_text(errors="replace") for path in sorted(CORPUS.glob("*.cfg"))[:12]]
    for text in configs:
        bundle = ConfigBundle((("haproxy.cfg", text),), env={"PORT": "8080"})
        there, here = remote.validate(bundle, version), local.validate(bundle, version)
        assert (there.valid, there.errors, there.warnings) == (here.valid, here.errors, here.warnings)
        assert not there.unavailable
    assert remote.layers().missing() == ()
    assert "separate container" in remote.isolation() and "answering" in remote.isolation()


def test_the_bundle_crosses_the_socket_whole() -> None:
    bundle = ConfigBundle(
        (("a.cfg", "x\0\ud800"), ("b.cfg", "y")),
        {"/etc/f": b"\0\xff"},
        {"K": "v\x01"},
        ("/etc",),
        ("/secret",),
        frozenset({"U"}),
        True,
        "/conf",
        True,
    )
    assert bundle_from_wire(bundle_to_wire(bundle)) == bundle


def _raw(path: Path, data: bytes) -> dict[str, object]:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        sock.sendall(data)
        return receive_frame(sock, 1 << 20)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        pytest.param(struct.pack(">I", MAX_REQUEST_BYTES + 1), "over the limit", id="oversize-frame"),
        pytest.param(struct.pack(">I", 3) + b"{{{", "not JSON", id="not-json"),
        pytest.param(struct.pack(">I", 2) + b"[]", "not a JSON object", id="not-an-object"),
        pytest.param(struct.pack(">I", 13) + b'{"op":"exec"}', "op:", id="unknown-operation"),
        pytest.param(struct.pack(">I", 30) + b'{"op":"check","version":"9.9"}', "no validator", id="unknown-branch"),
    ],
)
def test_a_request_outside_the_protocol_gets_an_error_and_nothing_runs(checker: Path, data: bytes, error: str) -> None:
    assert error in str(_raw(checker, data)["error"])
    assert not _remote(checker).validate(ConfigBundle((("h.cfg", VALID),))).unavailable  # still serving


def test_a_bundle_of_the_wrong_shape_is_refused(checker: Path) -> None:
    version = sorted(BINARIES)[0]
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(checker))
        send_frame(sock, {"op": "check", "version": version, "bundle": {"configs": [["a"]], "files": {"x": 1}}})
        assert "bundle" in str(receive_frame(sock, 1 << 20)["error"])


def test_a_checker_that_is_down_means_not_checked_never_a_deny_never_cached(tmp_path: Path) -> None:
    remote = _remote(tmp_path / "absent.sock")
    bundle = ConfigBundle((("haproxy.cfg", INVALID),))
    first, second = remote.validate(bundle), remote.validate(bundle)
    assert first.valid and first.unavailable and [m.text for m in first.warnings] == [NOT_ANSWERING]
    assert not second.cached and remote.stats["runs"] == 2
    assert "NOT answering" in remote.isolation()


def test_the_policy_warns_while_the_checker_restarts(tmp_path: Path) -> None:
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"},
                 "data": {"haproxy.cfg": INVALID}}  # fmt: skip
    findings = check(configmap, Settings(), namespace="n", context=Context(_remote(tmp_path / "absent.sock"))).findings
    assert all(finding.severity.value == "warn" for finding in findings)
    assert [f.policy for f in findings if NOT_ANSWERING in f.message] == ["haproxy-config-valid"]


def test_a_killed_checker_is_said_and_a_new_one_is_used(tmp_path: Path) -> None:
    path = tmp_path / "c.sock"
    process = _start(path)
    remote = _remote(path)
    bundle = ConfigBundle((("haproxy.cfg", INVALID),))
    try:
        assert not remote.validate(bundle).valid
        process.kill()
        process.wait(timeout=10)
        other = ConfigBundle((("haproxy.cfg", INVALID + "  another 1\n"),))
        assert remote.validate(other).unavailable
        process = _start(path)  # the container restarted
        assert not remote.validate(other).valid
    finally:
        _stop(process)


def test_the_checker_stops_on_sigterm_with_checks_in_flight(tmp_path: Path) -> None:
    folder = public_folder()
    try:
        _, spinning = compile_payloads(folder)
        settings = tmp_path / "settings.yaml"
        latest = sorted(BINARIES)[-1]  # the default branch, which the start-up probe runs: a real binary
        settings.write_text(
            f"validators:\n  '2.8': {spinning}\n  '{latest}': {BINARIES[latest]}\nvalidatorTimeoutSeconds: 20\n"
        )
        path = tmp_path / "c.sock"
        process = _start(path, settings)
        remote = RemoteValidator(path, {"2.8": str(spinning), latest: BINARIES[latest]}, timeout_seconds=20.0)
        answers: list[bool] = []
        threads = [
            threading.Thread(
                target=lambda n=n: answers.append(
                    remote.validate(ConfigBundle((("h.cfg", f"# {n}\n"),)), "2.8").unavailable
                )
            )
            for n in range(3)
        ]
        for thread in threads:
            thread.start()
        time.sleep(1.5)  # the checks are running (the payload spins)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
        assert time.monotonic() - started < 5
        for thread in threads:
            thread.join(30)
        assert answers == [True, True, True]  # answered "not checked", never hanging
        deadline = time.monotonic() + 5  # the fork server sees its socket close, and its children die with it
        while (left := processes_of(spinning)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert left == "", "a check survived its checker"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_the_checker_checks_code_loading_configurations_the_webhook_alone_refuses(checker: Path) -> None:
    """`codeLoading: check` (the default) takes effect in the checker container only."""
    lua = b'core.register_action("registered", {"http-req"}, function(txn) end)\n'
    text = "global\n  lua-load /usr/local/etc/haproxy/a.lua\n" + VALID + "  http-request lua.registered\n"
    bundle = ConfigBundle((("haproxy.cfg", text),), files={"/usr/local/etc/haproxy/a.lua": lua})
    version = sorted(BINARIES)[-1]
    assert _remote(checker).validate(bundle, version).valid
    alone = Validator(BINARIES).validate(bundle, version)
    assert not alone.valid and " is refused: " in str(alone.errors[0])
