"""The kernel boundary around `haproxy -c`: what the checked process may touch, how it is started, bounded
and reaped, and which kernel layers are in force on this machine.

The child is `python -I -S jail.py SPEC -- BINARY ARGS`: the launcher (see `jail`) applies the layers to
itself and then becomes HAProxy, so nothing is applied in the server process and nothing runs between
fork and exec in a threaded server. What the child may read is an allow-list built here: the sandbox
folder, the shared libraries, the binary's own folder, and a few public files HAProxy opens while checking
(the loader cache, OpenSSL's configuration, the time zone, the system CA certificates, the user and group
databases for `user`/`group`, `resolv.conf` for `parse-resolv-conf`). Nothing else: not the service-account token, not the serving key, not
`/proc`. It executes only the binary and its ELF loader, and writes nowhere but `/dev/null` (its output goes to a file
the parent opened).

Output and status go to files, not pipes: a child (or anything it left behind) can never keep the parent
waiting on a pipe. The parent waits at most the time limit, kills the process group, and waits at most
`KILL_GRACE_SECONDS` more.
"""

from __future__ import annotations

import array
import atexit
import contextlib
import enum
import functools
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

JAIL = Path(__file__).with_name("jail.py")
KILL_GRACE_SECONDS = 1.0
MAX_OUTPUT_BYTES = 256 * 1024
REFUSED_EXIT = 111  # jail.REFUSED_EXIT: a required layer is missing, nothing ran
REQUIRED_LAYERS = ("landlock", "seccomp")

READ_DIRS = (
    "/lib", "/lib64", "/lib32", "/usr/lib", "/usr/lib64", "/usr/lib32", "/usr/local/lib", "/usr/share/zoneinfo",
    "/sys/devices/system/cpu", "/sys/devices/system/node",
)  # fmt: skip
"""Public, read-only system folders: libraries, time zones, CPU topology (thread count)."""
CA_DIRS = ("/etc/ssl/certs", "/usr/share/ca-certificates", "/usr/local/share/ca-certificates")
"""The system CA store (OpenSSL's default folder, /usr/lib/ssl/certs, links here): readable only by checks
whose configuration may read it (`run(system_ca=...)`)."""
READ_FILES = (
    "/etc/ld.so.cache", "/etc/ssl/openssl.cnf", "/usr/lib/ssl/openssl.cnf", "/etc/localtime", "/etc/passwd",
    "/etc/group", "/etc/nsswitch.conf", "/etc/resolv.conf", "/etc/hosts", "/dev/urandom", "/dev/random",
)  # fmt: skip
"""Single public files HAProxy and its libraries open while checking (never /etc/shadow, never /proc)."""
WRITE_FILES = ("/dev/null",)
"""Files the check may open for writing: HAProxy 3.x opens /dev/null read-write at start-up."""


class SandboxMode(enum.StrEnum):
    """`require`: run submitted configurations only with Landlock and seccomp in force (else report "not
    validated"); `best-effort`: run with whatever layers the kernel grants."""

    REQUIRE = "require"
    BEST_EFFORT = "best-effort"


@dataclass(frozen=True, slots=True)
class Layers:
    """The kernel layers that were in force for one run (or a probe)."""

    landlock_abi: int = 0
    seccomp: bool = False
    network_namespace: bool = False
    no_new_privs: bool = False
    rlimits: bool = False
    mount_namespace: bool = False
    """A private root holding only what Landlock allows (where user namespaces exist): host paths cannot
    even be `stat`ed."""
    pid_namespace: bool = False
    """The check is the init of its own PID namespace: every process it starts dies with it (elsewhere the
    launcher's keeper kills them, see jail.py)."""

    @classmethod
    def from_status(cls, status: Mapping[str, object]) -> Layers:
        def flag(name: str) -> bool:
            return status.get(name) is True

        abi = status.get("landlock")
        return cls(
            abi if isinstance(abi, int) and not isinstance(abi, bool) else 0,
            flag("seccomp"),
            flag("network_namespace"),
            flag("no_new_privs"),
            flag("rlimits"),
            flag("mount_namespace"),
            flag("pid_namespace"),
        )

    def active(self) -> dict[str, bool]:
        return {
            "landlock": self.landlock_abi > 0,
            "seccomp": self.seccomp,
            "network_namespace": self.network_namespace,
            "no_new_privs": self.no_new_privs,
            "rlimits": self.rlimits,
            "mount_namespace": self.mount_namespace,
            "pid_namespace": self.pid_namespace,
        }

    def missing(self, required: Sequence[str] = REQUIRED_LAYERS) -> tuple[str, ...]:
        active = self.active()
        return tuple(layer for layer in required if not active.get(layer))

    def describe(self) -> str:
        names = [f"landlock (ABI {self.landlock_abi})" if name == "landlock" else name for name, on in
                 self.active().items() if on]  # fmt: skip
        return ", ".join(names) or "none"


@dataclass(frozen=True, slots=True)
class Limits:
    timeout_seconds: float = 3.0
    address_space_bytes: int = 1024 * 1024 * 1024
    file_size_bytes: int = 4 * 1024 * 1024
    open_files: int = 1024


@dataclass(frozen=True, slots=True)
class JailResult:
    returncode: int | None
    output: bytes
    layers: Layers
    missing: tuple[str, ...]
    timed_out: bool
    seconds: float


def elf_interpreter(binary: str) -> str | None:
    """The ELF program interpreter (PT_INTERP) of a binary, or None for a static or unreadable one."""
    try:
        with Path(binary).open("rb") as handle:
            header = handle.read(64)
            if header[:4] != b"\x7fELF" or header[4] != 2:  # 64-bit ELF only
                return None
            order: Literal["little", "big"] = "little" if header[5] == 1 else "big"
            phoff = int.from_bytes(header[32:40], order)
            phentsize, phnum = int.from_bytes(header[54:56], order), int.from_bytes(header[56:58], order)
            for index in range(min(phnum, 64)):
                handle.seek(phoff + index * phentsize)
                entry = handle.read(phentsize)
                if int.from_bytes(entry[0:4], order) == 3:  # PT_INTERP
                    offset, size = int.from_bytes(entry[8:16], order), int.from_bytes(entry[32:40], order)
                    handle.seek(offset)
                    return handle.read(min(size, 4096)).rstrip(b"\0").decode()
    except (OSError, UnicodeDecodeError, IndexError):
        return None
    return None


@functools.lru_cache(maxsize=64)
def _program_allowances(head: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(executables, folders) a command starting with `head` needs: the program and its ELF interpreter, the
    program's folder and, for a program run through its loader (`ld.so --library-path DIR BINARY`), the
    binary's and its libraries' folders. Resolved once per program (the checks run the same few)."""
    program = os.path.realpath(head[0])
    executables = [program]
    interpreter = elf_interpreter(program)
    if interpreter:
        executables.append(os.path.realpath(interpreter))
    folders = [str(Path(program).parent)]
    folders += [
        str(Path(part).resolve().parent) for word in head[1:4] for part in word.split(":") if part.startswith("/")
    ]
    return tuple(executables), tuple(folders)


def allowances(command: Sequence[str], folder: Path, *, system_ca: bool = True) -> dict[str, list[str]]:
    """What the child may read and execute: the folder, the system's public files (the CA store only with
    `system_ca`), the program, its loader."""
    executables, program_dirs = _program_allowances(tuple(command[:4]))
    read_dirs = [str(folder), *READ_DIRS, *(CA_DIRS if system_ca else ()), *program_dirs]
    return {"read": list(READ_FILES), "write": list(WRITE_FILES), "read_dirs": read_dirs, "exec": list(executables)}


def run(
    command: Sequence[str],
    folder: Path,
    limits: Limits,
    mode: SandboxMode = SandboxMode.REQUIRE,
    *,
    env: Mapping[str, str] | None = None,
    disable: Sequence[str] = (),
    system_ca: bool = True,
) -> JailResult:
    """Run `command` in `folder` behind the jail; never longer than the time limit plus the kill grace.
    `disable` leaves layers out on purpose (tests prove each layer alone, and `require` refusing);
    `system_ca=False` keeps the system CA store unreadable (Landlock)."""
    started = time.monotonic()
    output_path, status_path = folder / ".haproxy-guard-output", folder / ".haproxy-guard-status"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    output_fd = os.open(output_path, flags, 0o600)
    status_fd = os.open(status_path, flags, 0o600)
    allowed = allowances(command, folder, system_ca=system_ca)
    rlimits = {
        "cpu": max(1, int(limits.timeout_seconds + 1)),
        "as": limits.address_space_bytes,
        "fsize": limits.file_size_bytes,
        "nofile": limits.open_files,
        "core": 0,
    }
    options = [
        *(("--read", path) for path in allowed["read"]),
        *(("--write", path) for path in allowed["write"]),
        *(("--read-dir", path) for path in allowed["read_dirs"]),
        *(("--exec", path) for path in allowed["exec"]),
        *(("--rlimit", f"{name}={value}") for name, value in rlimits.items()),
        *(("--require", layer) for layer in (REQUIRED_LAYERS if mode is SandboxMode.REQUIRE else ())),
        *(("--disable", layer) for layer in disable),
    ]
    command_words = [*(word for option in options for word in option), "--", *command]
    env_fd = environment_file(env or {})
    returncode: int | None = None
    timed_out = False
    spawned: tuple[int, socket.socket] | None = None
    try:
        spawned = FORK_SERVER.spawn(command_words, folder, (output_fd, status_fd, env_fd))
        if spawned is None:  # no fork server here: start the launcher directly (the same layers, slower)
            returncode, timed_out = _run_directly(command_words, folder, (output_fd, status_fd, env_fd), limits)
    except Unanswered:
        pass  # sent, never acknowledged: nothing is known to have run; reported as not validated
    finally:
        os.close(output_fd)
        os.close(status_fd)
        os.close(env_fd)
    if spawned is not None:
        returncode, timed_out = _await(*spawned, limits)
    status = _read_status(status_path)
    reported_layers = status.get("layers")
    layers = Layers.from_status(reported_layers if isinstance(reported_layers, dict) else {})
    reported = status.get("missing")
    missing = tuple(name for name in reported if isinstance(name, str)) if isinstance(reported, list) else ()
    with output_path.open("rb") as handle:
        output = handle.read(MAX_OUTPUT_BYTES)
    return JailResult(returncode, output, layers, missing, timed_out, time.monotonic() - started)


def environment_file(env: Mapping[str, str]) -> int:
    """A descriptor of an anonymous file holding `env` as NUL-terminated `NAME=VALUE` entries, read back at
    its start: how the checked process's environment reaches the launcher. Never the launcher's own
    environment: the launcher is Python, and the loader, libc and Python read their environment before any
    layer is applied (`LD_PRELOAD` alone would run submitted code unconfined)."""
    fd = os.memfd_create("haproxy-guard-env", os.MFD_CLOEXEC)
    try:
        data = b"".join(os.fsencode(name) + b"=" + os.fsencode(value) + b"\0" for name, value in env.items())
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _run_directly(words: list[str], folder: Path, fds: tuple[int, int, int], limits: Limits) -> tuple[int | None, bool]:
    """`python -I -S jail.py SPEC -- COMMAND` as a child of this process, with an empty environment (the
    checked process's comes on the environment descriptor), output and status on `fds`: the exit code and
    whether it timed out."""
    output_fd, status_fd, env_fd = fds
    separator = words.index("--")
    spec = [*words[:separator], "--status-fd", str(status_fd), "--env-fd", str(env_fd)]
    process = subprocess.Popen(
        [sys.executable, "-I", "-S", str(JAIL), *spec, *words[separator:]],
        cwd=folder,
        env={},
        stdin=subprocess.DEVNULL,
        stdout=output_fd,
        stderr=output_fd,
        pass_fds=(status_fd, env_fd),  # `pass_fds` keeps the numbers in the child
        start_new_session=True,
    )
    timed_out = False
    if not _wait(process, limits.timeout_seconds):
        timed_out = True
        _kill_group(process.pid)
        # unkillable for now (uninterruptible sleep): the slot is freed anyway; the OS reaps it later
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=KILL_GRACE_SECONDS)
    else:
        process.wait()
        _kill_group(process.pid)  # anything it left behind in its group
    return process.returncode, timed_out


def _await(pid: int, reply: socket.socket, limits: Limits) -> tuple[int | None, bool]:
    """Wait for the fork server's `exit STATUS` of child `pid`: the exit code and whether it timed out."""
    timed_out = False
    try:
        message = _receive(reply, limits.timeout_seconds)
        if message is None:
            timed_out = True
            _kill_group(pid)
            message = _receive(reply, KILL_GRACE_SECONDS)
    finally:
        reply.close()
    if not timed_out:
        _kill_group(pid)  # anything it left behind in its group
    if message is None or not message.startswith(b"exit "):
        return None, timed_out
    return os.waitstatus_to_exitcode(int(message[5:])), timed_out


def _receive(reply: socket.socket, timeout: float) -> bytes | None:
    """The next message on `reply` within `timeout`, or None."""
    reply.settimeout(timeout)
    try:
        return reply.recv(64) or None
    except OSError:  # includes the timeout
        return None


class Unanswered(Exception):
    """The fork server took a request and never said which process runs it."""


class ForkServer:
    """The webhook's end of `jail.py --serve` (see jail.py): started on first use, once per process, and
    again if it died. `spawn` returns None when no server can take the request (it is then launched
    directly); once a request is sent, the answer comes from the server or the check is not validated."""

    MAX_REQUEST_BYTES = 128 * 1024
    SPAWN_TIMEOUT_SECONDS = 5.0

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.control: socket.socket | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.owner = 0
        self.enabled = hasattr(os, "pidfd_open") and hasattr(socket, "SCM_RIGHTS")

    def _connection(self) -> socket.socket | None:
        with self.lock:
            alive = self.process is not None and self.process.poll() is None and self.owner == os.getpid()
            if not alive:
                self._start()
            return self.control

    def _start(self) -> None:
        if self.control is not None and self.owner == os.getpid():
            self.control.close()
        self.control = self.process = None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-S", str(JAIL), "--serve", str(theirs.fileno())],
                cwd="/",
                env={},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
            )
        except OSError:
            ours.close()
            self.enabled = False
            return
        finally:
            theirs.close()
        self.control, self.owner = ours, os.getpid()

    def spawn(self, words: list[str], folder: Path, fds: tuple[int, int, int]) -> tuple[int, socket.socket] | None:
        """Ask the server to launch `SPEC -- COMMAND` in `folder` (descriptors: output, status, environment):
        the child's pid and the reply socket. The message holds only our own words (the options, the
        command line of file names we chose); the submission's environment travels as a descriptor, so no
        size of input changes the path a check takes."""
        if not self.enabled:
            return None
        message = b"\0".join([bytes(folder), *map(os.fsencode, words)])
        if len(message) > self.MAX_REQUEST_BYTES:
            return None
        control = self._connection()
        if control is None:
            return None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            descriptors = array.array("i", [theirs.fileno(), *fds])
            control.sendmsg([message], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, descriptors)])
        except OSError:
            ours.close()
            with self.lock:
                if self.process is not None:
                    self.process.kill()  # broken: the next request starts a new one
            return None
        finally:
            theirs.close()
        answer = _receive(ours, self.SPAWN_TIMEOUT_SECONDS)
        if answer is None or not answer.startswith(b"pid ") or not answer[4:].isdigit() or int(answer[4:]) <= 1:
            ours.close()
            raise Unanswered
        return int(answer[4:]), ours

    def stop(self) -> None:
        with self.lock:
            if self.control is not None and self.owner == os.getpid():
                self.control.close()
            if self.process is not None and self.owner == os.getpid():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=KILL_GRACE_SECONDS)
            self.control = self.process = None


FORK_SERVER = ForkServer()
atexit.register(FORK_SERVER.stop)


def _wait(process: subprocess.Popen[bytes], timeout: float) -> bool:
    """Whether the process ended within `timeout`. Waits on a pidfd (woken at the exit itself), not with
    `Popen.wait(timeout)`, which polls with sleeps of up to 50 ms and added about 25 ms to every check."""
    try:
        pidfd = os.pidfd_open(process.pid)
    except OSError:  # kernels before 5.3
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True
    try:
        return bool(select.select([pidfd], [], [], timeout)[0])
    finally:
        os.close(pidfd)


def _kill_group(pid: int) -> None:
    if pid <= 1:  # never "every process" (-1) or init's group
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _read_status(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as handle:
            text = handle.read(4096).decode("utf-8", "replace")
        value = json.loads(text.splitlines()[0]) if text.strip() else {}
    except (OSError, ValueError, IndexError):
        return {}
    return value if isinstance(value, dict) else {}


@functools.cache
def probe(
    command: tuple[str, ...], mode: SandboxMode = SandboxMode.BEST_EFFORT, disable: tuple[str, ...] = ()
) -> Layers:
    """The layers this machine grants (less those left out on purpose), found by running `COMMAND -v` (an
    HAProxy binary, possibly through its loader) through the jail once."""
    with tempfile.TemporaryDirectory(prefix="haproxy-guard-probe-") as folder:
        result = run([*command, "-v"], Path(folder), Limits(timeout_seconds=10.0), mode, disable=disable)
    return result.layers
