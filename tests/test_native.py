"""The compiled hot path (setup.py, `haproxy_guard.native`): built, current, and answering exactly as the
pure-Python source does.

The differential runs the same `audit` and `mutate` twice, in two processes: as installed (compiled) and
with `tests.pure_python` forcing the `.py` source of every compiled module. Inputs: every golden input (one
per policy behaviour), the scenarios' resources, the examples and a generated corpus of releases with 8 HAProxy
configurations.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.corpus import write
from haproxy_guard import native

ROOT = Path(__file__).resolve().parent.parent
RUN = "import runpy, sys; sys.argv[0] = 'haproxy-guard'; runpy.run_module('haproxy_guard.cli', run_name='__main__')"


def _cli(args: list[str], *, pure: bool) -> subprocess.CompletedProcess[str]:
    code = ("import tests.pure_python; " if pure else "") + RUN
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=100, check=False
    )


@pytest.mark.skipif(os.environ.get("HAPROXY_GUARD_COMPILE") == "0", reason="built without compiling on purpose")
def test_every_listed_module_runs_compiled() -> None:
    """`make setup` compiles them (a machine without a C compiler gets the pure package: this fails there)."""
    status = native.compiled_modules()
    assert status, "nothing is listed to compile"
    assert [name for name, compiled in status.items() if not compiled] == []
    assert native.describe() == f"compiled ({len(status)} modules)"


def test_no_compiled_module_is_older_than_its_source() -> None:
    """A source changed after `make setup` would be shadowed by its stale compiled module."""
    assert native.stale_modules() == [], "sources changed since they were compiled: run `make setup`"


def test_a_changed_source_is_reported_stale(tmp_path: Path) -> None:
    source = tmp_path / "haproxy_guard" / "policies" / "engine.py"
    source.parent.mkdir(parents=True)
    source.write_text("x = 1\n")
    lock = tmp_path / "haproxy_guard" / "native.lock"
    lock.write_text(json.dumps({"haproxy_guard/policies/engine.py": native.digest(source)}))
    assert native.stale_modules(tmp_path) == []
    source.write_text("x = 2\n")
    assert native.stale_modules(tmp_path) == ["haproxy_guard/policies/engine.py"]


def test_the_pure_modules_really_are_the_source() -> None:
    """The pure side of the differential runs no compiled module (else it would compare a thing with itself)."""
    result = _cli(["--version"], pure=True)
    assert result.stdout.strip().endswith("(engine: pure Python)"), result.stdout + result.stderr


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder = tmp_path_factory.mktemp("corpus")
    write(folder, releases=40, others=10, configs=8)
    golden = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "tests" / "golden").glob("*/*/*.yaml"))
    inputs = [p for p in golden if p.endswith("/input.yaml")]
    scenarios = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "tests" / "scenarios").glob("*/resources.yaml"))
    return [*inputs, *scenarios, "examples", str(folder)]


@pytest.mark.skipif(os.environ.get("HAPROXY_GUARD_COMPILE") == "0", reason="built without compiling on purpose")
@pytest.mark.parametrize("command", [["audit", "--format", "json"], ["audit", "--format", "sarif"], ["mutate"]])
def test_compiled_and_pure_python_answer_the_same(corpus: list[str], command: list[str]) -> None:
    # the compiled side really is (a build that removed the compiled modules would compare pure with pure)
    assert f"(engine: compiled ({len(native.COMPILED)} modules))" in _cli(["--version"], pure=False).stdout
    compiled, pure = _cli([*command, *corpus], pure=False), _cli([*command, *corpus], pure=True)
    assert compiled.returncode == pure.returncode, compiled.stderr + pure.stderr
    assert compiled.stderr == pure.stderr
    assert compiled.stdout == pure.stdout
    assert len(compiled.stdout) > 10_000, "the inputs gave (nearly) no output: the comparison would prove nothing"
