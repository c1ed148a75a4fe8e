"""The fork server that launches checks (`jail.py --serve`): the same jail as a direct launch, one server per
process, replaced when it dies, and nothing of it reachable from a check."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from haproxy_guard.policies.haproxy import jail, sandbox
from haproxy_guard.policies.haproxy.sandbox import FORK_SERVER, Limits, SandboxMode

LIST_DESCRIPTORS = ["/bin/sh", "-c", "echo /proc/self/fd/*"]  # the shell's own descriptors (its glob), no new process


def _run(tmp_path: Path, command: list[str], **options: object) -> sandbox.JailResult:
    folder = tmp_path / f"run-{time.monotonic_ns()}"
    folder.mkdir()
    return sandbox.run(command, folder, Limits(timeout_seconds=5.0), SandboxMode.BEST_EFFORT, **options)  # type: ignore[arg-type]


@pytest.fixture
def direct() -> Iterator[None]:
    enabled = FORK_SERVER.enabled
    FORK_SERVER.enabled = False
    try:
        yield
    finally:
        FORK_SERVER.enabled = enabled


def _server_pid() -> int:
    assert FORK_SERVER.process is not None and FORK_SERVER.process.poll() is None
    return FORK_SERVER.process.pid


def test_checks_share_one_server_and_get_every_layer(tmp_path: Path) -> None:
    first = _run(tmp_path, ["/bin/sh", "-c", "echo $$ $PPID"])
    server = _server_pid()
    second = _run(tmp_path, ["/bin/sh", "-c", "echo $$ $PPID"])
    assert _server_pid() == server
    assert first.returncode == second.returncode == 0
    # the init of a PID namespace of its own, whose parent (the launcher's keeper) is out of sight
    assert first.output.strip() == second.output.strip() == b"1 0"
    assert first.layers.missing() == () and first.layers.network_namespace and first.layers.no_new_privs
    assert first.layers.pid_namespace


def test_without_a_pid_namespace_the_check_is_the_keepers_child(tmp_path: Path) -> None:
    """The keeper (forked by the server) waits for the check as its parent; the check runs under it."""
    script = 'echo $PPID; read s < /proc/$PPID/stat; echo "$s"'
    result = _run(tmp_path, ["/bin/sh", "-c", script], disable=_SEE_THE_KEEPER)
    keeper, stat = result.output.decode().split("\n", 1)
    assert not result.layers.pid_namespace
    assert _parent_in(stat) == _server_pid() != int(keeper)  # the keeper's parent is the server


_SEE_THE_KEEPER = ("pid_namespace", "landlock", "mount_namespace")  # the keeper in sight, /proc readable


def _parent_in(stat: str) -> int:
    """The parent pid in a line of /proc/PID/stat."""
    return int(stat.rsplit(")", 1)[1].split()[1])


def test_the_same_jail_as_a_direct_launch(tmp_path: Path, direct: None) -> None:
    started = _run(tmp_path, ["/bin/sh", "-c", "echo $PPID"])
    assert started.output.strip() != str(FORK_SERVER.process.pid if FORK_SERVER.process else 0).encode()
    FORK_SERVER.enabled = True
    served = _run(tmp_path, ["/bin/sh", "-c", "exit 3"], env={"A": "1"})
    FORK_SERVER.enabled = False
    launched = _run(tmp_path, ["/bin/sh", "-c", "exit 3"], env={"A": "1"})
    assert served.returncode == launched.returncode == 3
    assert served.layers == launched.layers and served.missing == launched.missing


def test_a_check_sees_only_its_own_descriptors(tmp_path: Path) -> None:
    """Not the server's control socket, nor another check's reply socket or files (3 is the shell's listing)."""
    served = _run(tmp_path, LIST_DESCRIPTORS, disable=("landlock", "mount_namespace"))  # both hide /proc
    names = sorted(path.rsplit(b"/", 1)[1] for path in served.output.split())
    assert names == [b"0", b"1", b"2", b"3"]


def test_environment_and_folder_are_the_requests(tmp_path: Path) -> None:
    served = _run(tmp_path, ["/bin/sh", "-c", 'echo "$GREETING" && pwd'], env={"GREETING": "a=b c"})
    lines = served.output.decode().splitlines()
    assert lines[0] == "a=b c" and lines[1].startswith(str(tmp_path))


def test_a_dead_server_is_replaced(tmp_path: Path) -> None:
    _run(tmp_path, ["/bin/true"])
    old = _server_pid()
    os.kill(old, signal.SIGKILL)
    assert FORK_SERVER.process is not None
    FORK_SERVER.process.wait(timeout=5)
    again = _run(tmp_path, ["/bin/sh", "-c", "exit 0"])
    assert again.returncode == 0 and _server_pid() != old


def test_a_timeout_kills_the_check_not_the_server(tmp_path: Path) -> None:
    folder = tmp_path / "slow"
    folder.mkdir()
    started = time.monotonic()
    result = sandbox.run(["/bin/sh", "-c", "while :; do :; done"], folder, Limits(timeout_seconds=0.5))
    assert result.timed_out and result.returncode == -signal.SIGKILL
    assert time.monotonic() - started < 0.5 + sandbox.KILL_GRACE_SECONDS + 1
    server = _server_pid()
    assert _run(tmp_path, ["/bin/true"]).returncode == 0 and _server_pid() == server


def test_a_large_environment_takes_the_same_path(tmp_path: Path) -> None:
    """The environment travels as a descriptor: no size of it sends a check down another path (it once made
    the webhook start the launcher itself with the submitted environment, loader variables included)."""
    part = 100 * 1024  # one variable may not exceed execve's 128 KiB per string
    large = {"A": "x" * part, "B": "y" * part, "C": "z" * part}
    script = 'echo ${#A}${#B}${#C}; read s < /proc/$PPID/stat; echo "$s"'
    result = _run(tmp_path, ["/bin/sh", "-c", script], env=large, disable=_SEE_THE_KEEPER)
    lengths, keeper = result.output.decode().split("\n", 1)
    assert lengths == str(part) * 3
    assert _parent_in(keeper) == _server_pid()  # forked by the server's keeper, like every other check


def test_the_server_ends_when_its_webhook_end_closes(tmp_path: Path) -> None:
    _run(tmp_path, ["/bin/true"])
    process = FORK_SERVER.process
    assert process is not None
    FORK_SERVER.stop()
    assert process.wait(timeout=5) == 0
    assert _run(tmp_path, ["/bin/true"]).returncode == 0  # and the next check starts a new one


HOLDER = """
import os, sys, threading, time
from pathlib import Path
from haproxy_guard.policies.haproxy import jail, sandbox
from haproxy_guard.policies.haproxy.sandbox import FORK_SERVER, Limits, SandboxMode

folder = Path(sys.argv[1])
os.mkfifo(folder / "block")  # opening it blocks until a writer comes: none will (a check may exec nothing more)
check = lambda: sandbox.run(["/bin/sh", "-c", "read line < block"], folder, Limits(timeout_seconds=30.0),
                            SandboxMode.BEST_EFFORT, disable=("landlock",))
threading.Thread(target=check, daemon=True).start()
while FORK_SERVER.process is None:
    time.sleep(0.05)
print(FORK_SERVER.process.pid, flush=True)
time.sleep(300)
"""


def _state(pid: int) -> str | None:
    """The process's state letter, or None when it is gone (a zombie counts as gone: it runs nothing)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None if state in {"Z", "X"} else state


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[1]) == pid and fields[0] not in {"Z", "X"}:
                found.append(int(entry.name))
    return found


def test_a_killed_webhook_takes_its_server_and_running_checks_with_it(tmp_path: Path) -> None:
    """SIGKILL leaves no chance to clean up: the kernel closes the webhook's end of the control socket, the
    server exits on it, and the check it forked dies with the server (PR_SET_PDEATHSIG), so no configuration
    check outlives the webhook that asked for it."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        server = int(holder.stdout.readline())
        deadline = time.monotonic() + 10
        while not (checks := _children(server)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(checks) == 1, "the check did not start"
        holder.kill()
        holder.wait(timeout=5)
        deadline = time.monotonic() + 5
        while (_state(server) or _state(checks[0])) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _state(server) is None, "the fork server outlived the webhook"
        assert _state(checks[0]) is None, "a check outlived the webhook"
    finally:
        holder.kill()
        holder.wait(timeout=5)
        if holder.stdout:
            holder.stdout.close()


def _exec_in_child(prepared_path: bool, program: str = "/bin/true") -> int:
    """Fork; the child loads the filter compiled for `program` and calls execve with the prepared path buffer
    (or another buffer holding the same path). The child's exit status: 0 exec ran, 3 execve was refused."""
    pid = os.fork()
    if pid == 0:
        code = 4
        try:
            lib = jail._load_libseccomp()
            path, compiled = jail.prepared_exec(lib, program)
            assert jail._libc.prctl(jail._PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
            assert jail._install_filter(compiled)
            target = path if prepared_path else ctypes.create_string_buffer(os.fsencode(program))
            argv = (ctypes.c_void_p * 2)(ctypes.addressof(target), None)
            jail._libc.execve(target, argv, (ctypes.c_void_p * 1)(None))
            code = 3 if ctypes.get_errno() == 1 else 5  # EPERM: the filter refused
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_the_filter_is_compiled_once_per_program_and_allows_only_its_own_path_buffer() -> None:
    # the fork server compiles the seccomp program once per program (1.8 ms per check before) and forks
    # children that load it: it must still allow execve of that one buffer and refuse any other address
    lib = jail._load_libseccomp()
    first = jail.prepared_exec(lib, "/bin/true")
    assert jail.prepared_exec(lib, "/bin/true") is first
    assert first[1] is not None and len(first[1]) % 8 == 0
    assert jail.prepared_exec(lib, "/bin/false")[0] is not first[0]
    assert _exec_in_child(prepared_path=True) == 0
    assert _exec_in_child(prepared_path=False) == 3


def test_the_server_compiles_the_filter_before_it_forks(monkeypatch: pytest.MonkeyPatch) -> None:
    # the child must find the program ready (else each check compiles it again: 1.8 ms of libseccomp)
    monkeypatch.setattr(jail, "_PREPARED", {})
    compiled_at_fork: list[bool] = []

    def fork() -> int:  # no child: only what was ready at the fork is recorded
        compiled_at_fork.append("/bin/true" in jail._PREPARED)
        return 4242

    monkeypatch.setattr(os, "fork", fork)
    message = b"\0".join([b"/tmp", b"0", b"--rlimit", b"core=0", b"--", b"/bin/true"])
    assert jail._start_child(message, [-1, -1, -1]) == 4242
    assert compiled_at_fork == [True]
    assert jail._PREPARED["/bin/true"][1] is not None
