"""One replica: a real `haproxy` process of the pod's version running the adapted configuration in its own
folder and process group, and its readiness as the kubelet's prober sees it (the spec's probe, executed).

Every process is started with a parent-death signal (`setpriv --pdeathsig KILL`: it dies with the drill, even
on SIGKILL) in a new session,
and `kill()` sends SIGKILL to its whole group (the container's cgroup, which the kubelet's SIGKILL empties).
Probes: `httpGet` (a real GET; 200-399 is success; HTTPS without certificate verification, as the kubelet
does), `tcpSocket` (a connect); `exec` and `grpc` cannot be run here and are read as "ready once the process
listens", like no probe at all (said in the report).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import shutil
import signal
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from haproxy_guard.drill.plan import Probe

SETPRIV = shutil.which("setpriv")


def die_with_parent(command: Sequence[str]) -> list[str]:
    """`command` run through util-linux `setpriv --pdeathsig KILL`, so it dies with the drill even if the
    drill is SIGKILLed. Not a Python `preexec_fn`: one runs between fork and exec in a copy of a threaded
    interpreter, where a lock another thread held at the fork never comes free (it hung a CI run)."""
    return [SETPRIV, "--pdeathsig", "KILL", "--", *command] if SETPRIV else list(command)


def raise_open_files_limit() -> None:
    """The soft open-files limit up to the hard one, for the replicas this process starts (they inherit it):
    a pod usually gets 1048576; see `adapt.connection_cap` for a machine that gives less."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def start_process(
    command: Sequence[str], folder: Path, env: dict[str, str], log_name: str
) -> asyncio.subprocess.Process:
    """A child in its own session, killed if the drill dies, output to a log file in `folder`."""
    raise_open_files_limit()
    log = (folder / log_name).open("ab")
    try:
        return await asyncio.create_subprocess_exec(
            *die_with_parent(command),
            cwd=folder,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        log.close()


def kill_group(process: asyncio.subprocess.Process) -> None:
    """SIGKILL to the process's group, only while its leader has not been reaped: until then its pid (the
    group's id) cannot belong to anyone else; after, the number may already name another process group
    (found the hard way: parallel drills killed each other's stand-in backends)."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


async def probe_once(probe: Probe, port: int | None) -> bool:
    if probe.kind in {"none", "exec"} or port is None:
        return probe.kind in {"none", "exec"}
    try:
        context = None
        if probe.kind == "https":
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE  # the kubelet does not verify probe certificates
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, ssl=context), probe.timeout)
    except (OSError, TimeoutError, ssl.SSLError):
        return False
    try:
        if probe.kind in {"tcp", "grpc"}:
            return True
        writer.write(
            f"GET {probe.path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: kube-probe/1.34\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), probe.timeout)
        parts = status_line.split(b" ")
        return len(parts) > 1 and parts[1].isdigit() and 200 <= int(parts[1]) < 400
    except (OSError, TimeoutError, ssl.SSLError, ValueError):
        return False
    finally:
        writer.close()


@dataclass
class Replica:
    name: str
    folder: Path
    command: list[str]
    env: dict[str, str]
    ports: dict[int, int]
    """Container port -> local port."""
    traffic_port: int
    probe: Probe
    process: asyncio.subprocess.Process | None = None
    ready: bool = False
    ready_at: float | None = None
    """Monotonic time it became ready (for `minReadySeconds`)."""
    exited: asyncio.Event = field(default_factory=asyncio.Event)
    terminating: bool = False
    _prober: asyncio.Task[None] | None = None
    _watcher: asyncio.Task[None] | None = None

    async def start(self, listen_timeout: float = 30.0) -> None:
        self.process = await start_process(self.command, self.folder, self.env, "haproxy.log")
        self._watcher = asyncio.create_task(self._watch())
        deadline = time.monotonic() + listen_timeout
        while time.monotonic() < deadline and not self.exited.is_set():  # the container has started
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.ports_local(self.traffic_port))
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.02)
        if self.exited.is_set():
            raise RuntimeError(f"{self.name}: haproxy exited at start: {self.log_tail()}")
        self._prober = asyncio.create_task(self._probe_loop())

    def ports_local(self, container_port: int) -> int:
        return self.ports.get(container_port, container_port)

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self.folder / "haproxy.log").read_text(errors="replace").strip().splitlines()[-1][:300]
        return ""

    async def _watch(self) -> None:
        assert self.process is not None
        await self.process.wait()
        self.exited.set()
        self.ready = False

    async def _probe_loop(self) -> None:
        probe = self.probe
        port = self.ports_local(probe.port) if probe.port is not None else None
        await asyncio.sleep(probe.initial_delay)
        successes = failures = 0
        while not self.exited.is_set() and not self.terminating:
            ok = await probe_once(probe, port)
            successes, failures = (successes + 1, 0) if ok else (0, failures + 1)
            if ok and successes >= probe.success_threshold and not self.ready:
                self.ready, self.ready_at = True, time.monotonic()
            elif not ok and failures >= probe.failure_threshold and self.ready:
                self.ready, self.ready_at = False, None
            await asyncio.sleep(probe.period)

    def signal(self, sig: signal.Signals) -> None:
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)

    def kill(self) -> None:
        if self.process is not None:
            kill_group(self.process)

    def stop_probing(self) -> None:
        self.terminating = True
        if self._prober is not None:
            self._prober.cancel()
