"""Real-world configurations written by others (tests/haproxy/corpus/real-world, sources in SOURCES.md):
on every branch, what the raw `haproxy -c` accepts (no network, `-dr`, as the validator runs), haproxy-guard
accepts. The one class it refuses on purpose: configurations that load code (`lua-load`...), refused by
name, never run. Each branch's outcomes are counted and printed at the end of the run (`corpus_report`)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import pytest

from haproxy_guard.policies.haproxy.bundle import ConfigBundle
from haproxy_guard.policies.haproxy.directives import code_loads
from haproxy_guard.policies.haproxy.validator import Validator, discover_binaries, launch_command
from tests.haproxy.corpus_report import COUNTS, refusal_class

CORPUS = Path(__file__).parent / "corpus" / "real-world"
FILES = sorted(CORPUS.glob("*.cfg"))
BINARIES = discover_binaries()
VALIDATOR = Validator(BINARIES)
ISOLATE = ["unshare", "--user", "--map-root-user", "--net", "--"] if shutil.which("unshare") else []


def _raw(version: str, text: bytes) -> tuple[bool, str]:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "haproxy.cfg").write_bytes(text)
        result = subprocess.run(
            [*ISOLATE, *launch_command(BINARIES[version]), "-c", "-dr", "-f", "haproxy.cfg"],
            capture_output=True, env={}, timeout=60, check=False, cwd=folder,
        )  # fmt: skip
    return result.returncode == 0, (result.stdout + result.stderr).decode("utf-8", "replace")


def _outcome(version: str, path: Path) -> tuple[str, str]:
    """(outcome, detail) of one file on one branch."""
    data = path.read_bytes()
    text = data.decode("utf-8", "replace")
    result = VALIDATOR.validate(ConfigBundle((("haproxy.cfg", text),)), version)
    if list(code_loads((("haproxy.cfg", text),), {}, version)):
        assert not result.valid and " is refused: " in str(result.errors[0]), path.name
        return "refused: loads code", ""
    raw_accepts, raw_output = _raw(version, data)
    if raw_accepts:
        if result.valid:
            return "raw accepts, accepted", ""
        return "FALSE REJECTION", f"{path.name}: {[str(message) for message in result.errors]}"
    return ("raw refuses, refused" if not result.valid else refusal_class(raw_output)), ""


def test_the_corpus_is_there() -> None:
    assert len(FILES) >= 300
    sources = (CORPUS / "SOURCES.md").read_text()
    assert all(f"| {path.name} |" in sources for path in FILES), "every file records its source"
    assert len({path.read_bytes() for path in FILES}) == len(FILES), "no duplicates"


def test_the_classes_are_told_apart() -> None:
    missing = "[ALERT] (1) : config : parsing [h.cfg:3] : unable to stat SSL certificate from file '/s/x.pem'"
    assert refusal_class(missing) == "raw refuses, accepted: a file the pod mounts"
    assert refusal_class("[ALERT] (1) : log : invalid address: 'logs' in 'logs:514'").endswith("pod resolves")
    assert refusal_class("[ALERT] (1) : something else").endswith("other")


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("version", sorted(BINARIES))
def test_raw_accepts_implies_accepted(version: str) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(partial(_outcome, version), FILES))
    COUNTS[version] = Counter(outcome for outcome, _ in outcomes)
    assert sum(COUNTS[version].values()) == len(FILES)
    assert COUNTS[version]["raw accepts, accepted"] >= len(FILES) // 3, "the corpus is mostly valid"
    assert [detail for outcome, detail in outcomes if outcome == "FALSE REJECTION"] == []
