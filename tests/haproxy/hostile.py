"""Helpers for the hostile-input suites: payloads compiled from C, loopback listeners that count what
reaches them, folders every user can read, and running a check as root or as an unprivileged user."""

from __future__ import annotations

import base64
import json
import os
import shutil
import site
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PAYLOAD_SOURCE = Path(__file__).with_name("payloads") / "contained.c"
PRELOAD_SOURCE = Path(__file__).with_name("payloads") / "preload.c"
PRELOAD_SENTINEL = Path("/tmp/haproxy-guard-preload-ran")
REPOSITORY = Path(__file__).resolve().parents[2]
NOBODY = 65534
USERS = ["root", "nobody"]


# Every position where HAProxy reads a host name, as configuration snippets with `{name}` (used by the DNS
# suite, which must see no lookup, and by the fidelity suite, which must accept names only the pod resolves).
ADDRESS_TEMPLATES = {
    "server": "backend b\n  server s {name}:80\n",
    "server-hex": "backend b\n  serv\\x65r s {name}:80\n",
    "server-dollar": 'global\n  setenv N {name}\nbackend b\n  server s "$N:80"\n',
    "server-template": "backend b\n  server-template s 2 {name}:80\n",
    "source-usesrc": "backend b\n  source 0.0.0.0 usesrc {name}\n  server s 127.0.0.1:80\n",
    "server-addr": "backend b\n  server s 127.0.0.1:80 addr {name} check\n",
    "server-socks4": "backend b\n  server s 127.0.0.1:80 socks4 {name}:1080 check-via-socks4\n",
    "tcp-check-connect": "backend b\n  option tcp-check\n  tcp-check connect addr {name} port 80\n  server s 127.0.0.1:80 check\n",
    "http-check-connect": "backend b\n  option httpchk\n  http-check connect addr {name} port 80\n  server s 127.0.0.1:80 check\n",
    "dgram-bind": "log-forward f\n  dgram-bind {name}:514\n  log 127.0.0.1:514 local0\n",
    "stats-socket": "global\n  stats socket ipv4@{name}:9999\n",
    "log": "global\n  log {name}:514 local0\n",
    "nameserver": "resolvers r\n  nameserver n {name}:53\n",
    "peer": "peers p\n  peer other {name}:1024\n",
    "mailer": "mailers m\n  mailer x {name}:25\n",
    "bind": "frontend f\n  bind {name}:80\n",
}


def compile_payloads(folder: Path) -> tuple[Path, Path]:
    """(provider shared object, program) built from `payloads/contained.c` with the machine's gcc."""
    provider, program = folder / "contained.so", folder / "contained"
    gcc = shutil.which("gcc") or shutil.which("cc")
    assert gcc, "the hostile suite needs a C compiler (gcc) to build its payloads"
    subprocess.run(
        [gcc, "-Wall", "-Werror", "-shared", "-fPIC", "-DAS_PROVIDER", "-o", provider, PAYLOAD_SOURCE], check=True
    )
    subprocess.run([gcc, "-Wall", "-Werror", "-o", program, PAYLOAD_SOURCE], check=True)
    for path in (folder, provider, program):
        path.chmod(0o755)
    return provider, program


def compile_preload(folder: Path) -> Path:
    """The shared object of `payloads/preload.c` (what a submitted `LD_PRELOAD` would name)."""
    library = folder / "preload.so"
    gcc = shutil.which("gcc") or shutil.which("cc")
    assert gcc, "the hostile suite needs a C compiler (gcc) to build its payloads"
    subprocess.run([gcc, "-Wall", "-Werror", "-shared", "-fPIC", "-o", library, PRELOAD_SOURCE], check=True)
    for path in (folder, library):
        path.chmod(0o755)
    return library


def processes_of(program: Path) -> str:
    """The pids of processes running `program` (pgrep's output), empty when none is left."""
    return subprocess.run(["pgrep", "-f", str(program)], capture_output=True, text=True, check=False).stdout


def public_folder() -> Path:
    """A folder under /tmp that an unprivileged user can read (pytest's tmp_path is private to its user),
    so a file the sandbox must not read is kept out by the kernel, not by file permissions."""
    folder = Path(tempfile.mkdtemp(prefix="haproxy-guard-test-"))
    folder.chmod(0o755)
    return folder


@contextmanager
def secret_file(content: str) -> Iterator[Path]:
    """A file holding `content`, readable by every user (so only the sandbox keeps it out), removed after."""
    folder = public_folder()
    path = folder / "token"
    path.write_text(content + "\n")
    path.chmod(0o644)
    try:
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def attempts(output: str) -> dict[str, str]:
    """`ATTEMPT what=result` lines of the payload, as a dict."""
    found: dict[str, str] = {}
    for line in output.splitlines():
        if line.startswith("ATTEMPT "):
            what, _, result = line.removeprefix("ATTEMPT ").partition("=")
            found[what] = result
    return found


@dataclass
class Listeners:
    """A TCP and a UDP listener on loopback, counting connections and datagrams."""

    tcp_port: int = 0
    udp_port: int = 0
    connections: int = 0
    datagrams: int = 0
    _sockets: list[socket.socket] = field(default_factory=list)


@contextmanager
def listeners() -> Iterator[Listeners]:
    tcp, udp = socket.socket(), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(16)
    udp.bind(("127.0.0.1", 0))
    for sock in (tcp, udp):
        sock.settimeout(0.2)
    state = Listeners(tcp.getsockname()[1], udp.getsockname()[1], _sockets=[tcp, udp])
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = tcp.accept()
            except OSError:
                continue
            state.connections += 1
            connection.close()

    def receive() -> None:
        while not stop.is_set():
            try:
                udp.recvfrom(512)
            except OSError:
                continue
            state.datagrams += 1

    threads = [threading.Thread(target=accept, daemon=True), threading.Thread(target=receive, daemon=True)]
    for thread in threads:
        thread.start()
    try:
        yield state
    finally:
        stop.set()
        for thread in threads:
            thread.join(2)
        tcp.close()
        udp.close()


def run_job(user: str, job: dict[str, Any]) -> dict[str, Any]:
    """Run a job of `hostile_runner` in-process (root: the test's own user) or as uid 65534."""
    if user == "root" or os.geteuid() != 0:
        from tests.haproxy.hostile_runner import execute

        return execute(job)
    command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", _public_python(), "-m",
               "tests.haproxy.hostile_runner"]  # fmt: skip
    packages = ":".join([*site.getsitepackages(), str(REPOSITORY)])
    completed = subprocess.run(
        command, input=json.dumps(job), capture_output=True, text=True, cwd=REPOSITORY, timeout=120, check=False,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TMPDIR": "/tmp", "PYTHONPATH": packages},
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def _public_python() -> str:
    """An interpreter of this Python's version that uid 65534 can execute (a virtual environment's may
    link into a home folder only its owner can enter); the environment's packages go on PYTHONPATH."""
    real = os.path.realpath(sys.executable)
    if all(parent.stat().st_mode & 0o001 for parent in Path(real).parents):
        return real
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    found = shutil.which(version, path="/usr/local/bin:/usr/bin")
    assert found, f"no {version} that an unprivileged user can run"
    return found


def files_job(files: dict[str, bytes]) -> dict[str, str]:
    return {path: base64.b64encode(content).decode() for path, content in files.items()}
