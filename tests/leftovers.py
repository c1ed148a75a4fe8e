"""Processes the tests leave behind: what the session-end check (tests/conftest.py) and the jail's tests look
for. A process counts when it started after a given moment and runs an HAProxy binary (a word of its command
line is a path or name whose last part is `haproxy`), which is what a check, a drill or a node test starts."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


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


def haproxy_started_since(moment: int) -> list[Process]:
    """HAProxy processes started at or after `moment` (see `now`) that are still there."""
    own = os.getpid()
    return [p for p in processes() if p.started >= moment and p.pid != own and runs_haproxy(p)]


def kill(found: list[Process]) -> None:
    for process in found:
        try:
            os.kill(process.pid, 9)
        except OSError:
            continue
