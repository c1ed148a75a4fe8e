"""Processes the tests leave behind: what the session-end check (tests/leftover_check.py) and the jail's tests
look for. A process counts when it started after a given moment, runs an HAProxy binary (a word of its command
line is a path or name whose last part is `haproxy`), which is what a check, a drill or a node test starts,
and descends from this test process. The test process is made a child subreaper (`become_subreaper`), so a
process that escaped its parent (a payload's `setsid` and double fork) is re-parented to it, not to PID 1,
and still counts; HAProxy processes of anything else on the machine (another test session, a node another run
started, a developer's own) are never counted, and so never killed."""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from pathlib import Path

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
_PR_SET_CHILD_SUBREAPER = 36


@dataclass(frozen=True, slots=True)
class Process:
    pid: int
    ppid: int
    started: int
    """Clock ticks after boot (/proc/PID/stat field 22)."""
    command: tuple[str, ...]
    cwd: str


def now() -> int:
    """The current moment in the unit of `Process.started`."""
    return int(float(Path("/proc/uptime").read_text().split()[0]) * TICKS_PER_SECOND)


def processes() -> list[Process]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes().rsplit(b")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().split(b"\0")
            try:
                cwd = str((entry / "cwd").readlink())
            except OSError:
                cwd = ""
        except (OSError, IndexError):
            continue  # gone meanwhile
        words = tuple(os.fsdecode(word) for word in command if word)
        found.append(Process(int(entry.name), int(stat[1]), int(stat[19]), words, cwd))
    return found


def runs_haproxy(process: Process) -> bool:
    return any(word.rsplit("/", 1)[-1] == "haproxy" for word in process.command[:4])


def become_subreaper() -> bool:
    """Make this process the one orphaned descendants are re-parented to (Linux 3.4+); whether it worked."""
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)


def _descends(process: Process, root: int, parents: dict[int, int]) -> bool:
    seen: set[int] = set()
    pid = process.ppid
    while pid > 1 and pid not in seen:
        if pid == root:
            return True
        seen.add(pid)
        pid = parents.get(pid, 0)
    return pid == root


def haproxy_started_since(moment: int, root: int | None = None) -> list[Process]:
    """HAProxy processes started at or after `moment` (see `now`) that are still there and descend from `root`
    (this process by default)."""
    own = os.getpid() if root is None else root
    found = processes()
    parents = {p.pid: p.ppid for p in found}
    return [p for p in found if p.started >= moment and p.pid != own and runs_haproxy(p) and _descends(p, own, parents)]


def kill(found: list[Process]) -> None:
    for process in found:
        try:
            os.kill(process.pid, 9)
        except OSError:
            continue
