"""Real-world configurations written by others (tests/haproxy/corpus/real-world, sources in SOURCES.md):
on every branch, what the raw `haproxy -c` accepts (no network, `-dr`, as the validator runs), haproxy-guard
accepts. The one class it refuses on purpose: configurations that load code (`lua-load`...), refused by
name, never run. The corpus also runs through the whole validator to show nothing crashes or hangs."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from haproxy_guard.policies.haproxy.directives import code_loads
from haproxy_guard.policies.haproxy.render import ConfigBundle
from haproxy_guard.policies.haproxy.validator import Validator, discover_binaries, launch_command

CORPUS = Path(__file__).parent / "corpus" / "real-world"
FILES = sorted(CORPUS.glob("*.cfg"))
BINARIES = discover_binaries()
VALIDATOR = Validator(BINARIES)
ISOLATE = ["unshare", "--user", "--map-root-user", "--net", "--"] if shutil.which("unshare") else []


def _raw_accepts(version: str, text: str) -> bool:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "haproxy.cfg").write_text(text)
        result = subprocess.run(
            [*ISOLATE, *launch_command(BINARIES[version]), "-c", "-dr", "-f", "haproxy.cfg"],
            capture_output=True, env={}, timeout=60, check=False, cwd=folder,
        )  # fmt: skip
    return result.returncode == 0


def test_the_corpus_is_there() -> None:
    assert len(FILES) >= 6
    sources = (CORPUS / "SOURCES.md").read_text()
    assert all(path.name in sources for path in FILES), "every file records its source"


@pytest.mark.slow
@pytest.mark.parametrize("version", sorted(BINARIES))
@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_raw_accepts_implies_accepted(path: Path, version: str) -> None:
    text = path.read_text()
    result = VALIDATOR.validate(ConfigBundle((("haproxy.cfg", text),)), version)
    if list(code_loads((("haproxy.cfg", text),), {}, version)):
        assert not result.valid and " is refused: " in str(result.errors[0])
        return
    if _raw_accepts(version, text):
        assert result.valid, [str(message) for message in result.errors]
