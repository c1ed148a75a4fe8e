"""The benchmarks' peak-memory figure is the command's own: a bench that has grown (it parsed large reports)
must not lend its size to the commands it starts, which a plain `wait4` on a child does (Linux keeps the peak
RSS across fork and exec)."""

from __future__ import annotations

import os
import subprocess
import sys

from bench import peak

SMALL = [sys.executable, "-S", "-c", "pass"]


def test_a_grown_parent_does_not_lend_its_size() -> None:
    ballast = bytearray(300 * 1024 * 1024)  # touched: resident, like a parsed report
    for index in range(0, len(ballast), 4096):
        ballast[index] = 1
    direct = os.posix_spawn(SMALL[0], SMALL, os.environ)
    _, _, usage = os.wait4(direct, 0)
    assert usage.ru_maxrss / 1024 > 250, "the effect this module exists for: a plain child reports the parent"
    measured = peak.run(SMALL)
    assert measured.exit_code == 0
    assert measured.peak_mib < 50, measured
    del ballast


def test_output_exit_code_and_cpu_are_the_commands() -> None:
    measured = peak.run(
        [sys.executable, "-c", "import sys; sum(range(3_000_000)); print('hello'); sys.exit(3)"],
        stdout=subprocess.PIPE,
    )
    assert measured.output == b"hello\n" and measured.exit_code == 3
    assert measured.cpu_seconds > 0 and measured.seconds >= measured.cpu_seconds / os.cpu_count()  # type: ignore[operator]
    grown = peak.run([sys.executable, "-c", "b = bytearray(200 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096])"])
    assert grown.peak_mib > 200, "the command's own peak is what is measured"
