"""The session-end check (tests/leftover_check.py): a run that leaves an HAProxy process behind fails, even
when its tests pass; one that leaves nothing passes; an HAProxy process the run did not start (another run's,
started while it ran) is neither reported nor killed. Proven on an inner pytest run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests import leftovers

ROOT = Path(__file__).resolve().parent.parent

ORPHAN = """
import subprocess

def test_passes_but_leaves_a_process():
    # orphaned in a session of its own, named haproxy: what an escaped check looks like
    subprocess.run(["setsid", "-f", "bash", "-c", "exec -a haproxy sleep 300"], check=True)
"""

CLEAN = """
import subprocess

def test_passes_and_stops_what_it_started():
    process = subprocess.Popen(["bash", "-c", "exec -a haproxy sleep 300"])
    process.kill()
    process.wait()
"""


def _inner(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_inner.py").write_text(source)
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.leftover_check",
         "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path / "test_inner.py")],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_a_session_that_leaves_haproxy_behind_fails(tmp_path: Path) -> None:
    started = leftovers.now()
    result = _inner(tmp_path, ORPHAN)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert "left behind" in result.stdout and "haproxy" in result.stdout
    time.sleep(0.2)
    assert [p for p in leftovers.haproxy_started_since(started) if "300" in p.command] == [], "and kills it"


def test_a_session_that_stops_its_processes_passes(tmp_path: Path) -> None:
    result = _inner(tmp_path, CLEAN)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "left behind" not in result.stdout


def test_haproxy_processes_the_session_did_not_start_are_left_alone(tmp_path: Path) -> None:
    """Another session's HAProxy (here the outer test's), started while the inner session runs: not the inner
    session's to report or kill."""
    (tmp_path / "go").unlink(missing_ok=True)
    other = subprocess.Popen(
        ["setsid", "bash", "-c", f"while [ ! -e {tmp_path}/go ]; do sleep 0.05; done; exec -a haproxy sleep 300"]
    )
    slow_clean = CLEAN.replace(
        "def test_",
        f"import pathlib, time\npathlib.Path({str(tmp_path)!r}, 'go').touch()\ntime.sleep(0.5)\ndef test_",
        1,
    )
    try:
        result = _inner(tmp_path, slow_clean)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "left behind" not in result.stdout
        assert other.poll() is None, "the other run's HAProxy was killed"
        assert "haproxy" in Path(f"/proc/{other.pid}/cmdline").read_text(), "it did run as haproxy meanwhile"
    finally:
        other.kill()
        other.wait()
