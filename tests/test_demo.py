"""`make run`'s demonstration works end to end (what a new user sees first)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import free_port
from tests.helpers import ROOT


def test_demo_shows_the_sample_before_and_after(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "demo.py"),
            "--once",
            "--port",
            str(free_port()),
            "--cert-dir",
            str(tmp_path / "certs"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "=== before: examples/haproxy-deployment.yaml ===" in out
    assert "+      terminationGracePeriodSeconds: 45" in out
    assert "+          preStop:" in out
    assert "=== /validate on the sample as written: DENIED ===" in out
    assert "=== /validate on the mutated sample: allowed ===" in out
