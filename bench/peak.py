"""Peak memory of a command, not of the benchmark that starts it.

Linux keeps a process's peak RSS (`ru_maxrss`) across `exec`: a child forked (or vforked) from the benchmark
starts with the benchmark's own peak, so a benchmark that has parsed large outputs reports its own size for
every command it runs afterwards (the cluster-audit bench printed 128 MiB for an audit whose own peak was
70 MiB: the bench had parsed the previous audit's report). So each command is started by a small launcher
(`python -I -S` running `LAUNCHER`, about 10 MiB), whose child inherits only the launcher's size; the
launcher reports the child's `wait4` figures (peak RSS of the command or the largest process it reaped, and
CPU seconds of both) on a file descriptor of its own. `run(command)` returns them with the wall time.

Run as `python bench/peak.py COMMAND...` it prints those figures for one command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import IO

LAUNCHER = """
import json, os, sys
report = int(sys.argv[1])
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
os.write(report, json.dumps([status, usage.ru_maxrss, usage.ru_utime + usage.ru_stime]).encode())
sys.exit(0)
"""


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_mib: float
    exit_code: int
    cpu_seconds: float
    output: bytes


def run(
    command: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    stdout: int | IO[bytes] | None = subprocess.DEVNULL,
) -> Measured:
    """Run `command` through the launcher; `stdout=subprocess.PIPE` keeps its output in `Measured.output`."""
    read, write = os.pipe()
    started = time.perf_counter()
    try:
        process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", LAUNCHER, str(write), *command],
            stdout=stdout, stderr=subprocess.DEVNULL, env=env, cwd=cwd, pass_fds=(write,),
        )  # fmt: skip
        os.close(write)
        write = -1
        with process:
            output = process.stdout.read() if process.stdout is not None else b""
        seconds = time.perf_counter() - started
        with os.fdopen(read, "rb") as report:
            read = -1
            status, maxrss_kib, cpu = json.loads(report.read() or b"[256, 0, 0]")
    finally:
        for descriptor in (read, write):
            if descriptor >= 0:
                os.close(descriptor)
    return Measured(seconds, maxrss_kib / 1024, os.waitstatus_to_exitcode(status), cpu, output)


def main() -> None:
    measured = run(sys.argv[1:])
    print(
        f"{measured.seconds:.2f} s, peak RSS {measured.peak_mib:.0f} MiB, CPU {measured.cpu_seconds:.2f} s, "
        f"exit {measured.exit_code}"
    )


if __name__ == "__main__":
    main()
