"""The kernel boundary itself: arbitrary code running inside `haproxy -c` (a shared object OpenSSL loads for
`ssl-provider`, built from `payloads/contained.c`) cannot read a canary, write, execute, start processes,
reach loopback listeners or signal outside, pin memory the address-space limit does not count (memfd,
System V and POSIX shared memory, message queues, grown pipes), and is killed at the time limit; as root and as uid 65534, on
every validator branch; each layer proven on its own too; a missing required layer runs nothing."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from haproxy_guard.policies.haproxy import sandbox
from haproxy_guard.policies.haproxy.bundle import ConfigBundle
from haproxy_guard.policies.haproxy.validator import Validator, discover_binaries, launch_command
from tests import leftovers
from tests.haproxy.hostile import USERS, attempts, compile_payloads, listeners, public_folder, run_job, secret_file

BINARIES = discover_binaries()
VERSIONS = sorted(BINARIES)
SECRET = "CANARY-token-5e8d1c7f"
EXEC_SENTINEL = Path("/tmp/haproxy-guard-payload-exec")
WRITE_SENTINEL = Path("/tmp/haproxy-guard-payload-wrote")


@pytest.fixture(scope="module")
def payloads() -> Iterator[tuple[Path, Path]]:
    folder = public_folder()
    try:
        yield compile_payloads(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def canary() -> Iterator[Path]:
    with secret_file(SECRET) as path:
        yield path


def _provider_folder(provider: Path, canary: Path, tcp_port: int, udp_port: int, spin: bool) -> Path:
    """A sandbox folder (writable by every user, for the run as uid 65534) set up for the payload."""
    folder = public_folder()
    folder.chmod(0o777)
    shutil.copy(provider, folder / "contained.so")
    (folder / "h.cfg").write_text(f"global\n  ssl-provider {folder}/contained.so\ndefaults\n  mode http\n")
    (folder / "canary").write_text(str(canary))
    (folder / "tcp-port").write_text(str(tcp_port))
    (folder / "udp-port").write_text(str(udp_port))
    if spin:
        (folder / "spin").write_text("")
    for path in folder.iterdir():
        path.chmod(0o755)
    return folder


def _run_payload(
    user: str,
    version: str,
    payloads: tuple[Path, Path],
    canary: Path,
    *,
    disable: tuple[str, ...] = (),
    mode: sandbox.SandboxMode = sandbox.SandboxMode.REQUIRE,
    spin: bool = True,
) -> tuple[dict[str, str], dict[str, object], int, int]:
    for sentinel in (EXEC_SENTINEL, WRITE_SENTINEL):
        sentinel.unlink(missing_ok=True)
    with listeners() as network:
        folder = _provider_folder(payloads[0], canary, network.tcp_port, network.udp_port, spin=spin)
        try:
            job = {"kind": "jail", "command": [*launch_command(BINARIES[version]), "-c", "-f", "h.cfg"], "folder": str(folder),
                   "timeout": 2.0, "disable": list(disable), "mode": str(mode)}  # fmt: skip
            result = run_job(user, job)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        time.sleep(0.3)  # let the listeners count anything in flight
        return attempts(str(result["output"])), result, network.connections, network.datagrams


@pytest.mark.slow
@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("version", VERSIONS)
def test_code_inside_haproxy_is_contained(payloads: tuple[Path, Path], canary: Path, user: str, version: str) -> None:
    tried, result, connections, datagrams = _run_payload(user, version, payloads, canary)
    assert tried, f"the payload never ran, so this proves nothing: {result['output']}"
    assert SECRET not in str(result["output"])
    blocked = ("read", "list-root", "write-outside", "tcp-connect", "udp-sendto", "udp-connect", "exec", "fork",
               "setsid", "kill-parent", "memfd", "shmget", "msgget", "shm-open", "pipe-size", "stat-host")  # fmt: skip
    assert {what: tried.get(what) for what in blocked if tried.get(what) == "ok"} == {}
    assert set(blocked) <= set(tried)
    assert (connections, datagrams) == (0, 0)
    assert not EXEC_SENTINEL.exists() and not WRITE_SENTINEL.exists()
    assert result["timed_out"], "the spinning payload must be stopped at the time limit"
    assert float(str(result["seconds"])) < 2.0 + sandbox.KILL_GRACE_SECONDS + 0.5


@pytest.mark.slow
@pytest.mark.parametrize(
    ("alone", "blocks"),
    [
        pytest.param(
            "landlock", ("read", "list-root", "write-outside", "exec", "tcp-connect", "kill-parent"), id="landlock"
        ),
        pytest.param(
            "seccomp",
            (
                "exec",
                "fork",
                "setsid",
                "tcp-connect",
                "udp-sendto",
                "udp-connect",
                "memfd",
                "shmget",
                "msgget",
                "pipe-size",
            ),
            id="seccomp",
        ),
        pytest.param("network_namespace", ("tcp-connect", "udp-sendto", "udp-connect"), id="network-namespace"),
    ],
)
def test_each_layer_holds_on_its_own(
    payloads: tuple[Path, Path], canary: Path, alone: str, blocks: tuple[str, ...]
) -> None:
    others = tuple(layer for layer in ("landlock", "seccomp", "network_namespace") if layer != alone)
    best_effort = sandbox.SandboxMode.BEST_EFFORT
    tried, result, connections, datagrams = _run_payload(
        "root", VERSIONS[-1], payloads, canary, disable=others, mode=best_effort
    )
    assert tried, f"the payload never ran: {result['output']}"
    assert {what: tried.get(what) for what in blocks if tried.get(what) == "ok"} == {}
    if "tcp-connect" in blocks:
        assert connections == 0
    if "udp-sendto" in blocks:
        assert datagrams == 0
    layers = result["layers"]
    assert isinstance(layers, dict)
    assert [layer for layer in ("landlock", "seccomp", "network_namespace") if layers[layer]] == [alone]


@pytest.mark.slow
@pytest.mark.parametrize("disable", [("seccomp",), ("seccomp", "pid_namespace")], ids=["pid-namespace", "keeper-alone"])
@pytest.mark.parametrize("spin", [False, True], ids=["check-ends", "time-limit"])
def test_what_a_check_starts_dies_with_it(
    payloads: tuple[Path, Path], canary: Path, disable: tuple[str, ...], spin: bool
) -> None:
    """Without seccomp (best-effort mode where the kernel lacks it) a payload can fork; its child moves to a
    session of its own (out of reach of a process-group kill) and waits forever. It must still die with the
    check: in the check's PID namespace by the kernel, else by the launcher's keeper (a subreaper), or, when
    the time limit kills the keeper, by the fork server (a subreaper too)."""
    started = leftovers.now()
    tried, result, _, _ = _run_payload(
        "root", VERSIONS[-1], payloads, canary, disable=disable, mode=sandbox.SandboxMode.BEST_EFFORT, spin=spin
    )
    assert tried.get("fork") == "ok", f"the escape was not even tried: {tried}"
    layers = result["layers"]
    assert isinstance(layers, dict)
    assert layers["pid_namespace"] is ("pid_namespace" not in disable)
    assert result["timed_out"] is spin
    deadline = time.monotonic() + 2
    while (left := leftovers.haproxy_started_since(started)) and time.monotonic() < deadline:
        time.sleep(0.05)
    leftovers.kill(left)
    assert left == [], "a process of the check outlived it"


@pytest.mark.parametrize("layer", ["landlock", "seccomp"])
def test_a_missing_required_layer_runs_nothing(payloads: tuple[Path, Path], canary: Path, layer: str) -> None:
    tried, result, _, _ = _run_payload("root", VERSIONS[-1], payloads, canary, disable=(layer,))
    assert result["returncode"] == sandbox.REFUSED_EXIT
    assert result["missing"] == [layer]
    assert tried == {}, "nothing may run when a required layer is missing"


def test_the_validator_says_not_validated_and_does_not_cache_it() -> None:
    validator = Validator(BINARIES, disabled_layers=("seccomp",))
    bundle = ConfigBundle((("haproxy.cfg", "defaults\n  mode http\n"),))
    first = validator.validate(bundle)
    second = validator.validate(bundle)
    assert not first.valid and first.unavailable
    assert "not validated: the kernel sandbox is incomplete" in str(first.errors[0])
    assert "seccomp" in str(first.errors[0])
    assert not second.cached and validator.stats["runs"] == 2


def test_this_machine_grants_every_layer() -> None:
    """CI runs where the kernel has Landlock, seccomp and user namespaces: all must be in force."""
    layers = sandbox.probe(tuple(launch_command(BINARIES[VERSIONS[-1]])))
    assert layers.active() == dict.fromkeys(layers.active(), True), layers
    assert layers.landlock_abi >= 4, "TCP rules need Landlock ABI 4"


@pytest.mark.slow
@pytest.mark.parametrize("user", USERS)
def test_a_binary_that_never_finishes_is_killed_and_not_cached(payloads: tuple[Path, Path], user: str) -> None:
    job = {"kind": "validate", "binaries": {"2.8": str(payloads[1])}, "timeout": 1.0,
           "configs": [["haproxy.cfg", "defaults\n  mode http\n"]]}  # fmt: skip
    started = time.monotonic()
    result = run_job(user, job)
    assert result["timed_out"] and not result["valid"]
    assert "did not finish within 1s" in result["errors"][0]
    assert float(result["seconds"]) < 1.0 + sandbox.KILL_GRACE_SECONDS + 0.5
    assert time.monotonic() - started < 30
    time.sleep(0.2)
    leftovers = subprocess.run(["pgrep", "-f", str(payloads[1])], capture_output=True, text=True, check=False)
    assert leftovers.stdout == "", "a process of the check survived its time limit"


def test_a_timeout_is_never_cached(payloads: tuple[Path, Path]) -> None:
    validator = Validator({"2.8": str(payloads[1])}, timeout_seconds=0.5)
    bundle = ConfigBundle((("haproxy.cfg", "defaults\n  mode http\n"),))
    assert validator.validate(bundle).timed_out
    again = validator.validate(bundle)
    assert again.timed_out and not again.cached
    assert validator.stats["runs"] == 2
