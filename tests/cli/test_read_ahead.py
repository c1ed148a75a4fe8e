"""Reading a large input in a worker process (`cli.read_ahead`): the same documents, order and errors as
`manifests.iter_documents`, and a reading that goes on here when the worker cannot."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from haproxy_guard.cli import read_ahead
from haproxy_guard.cli.entry import BATCH_COLLECTOR_THRESHOLDS
from haproxy_guard.cli.manifests import ManifestError, iter_documents
from haproxy_guard.cli.read_ahead import iter_documents_ahead
from tests.helpers import ROOT

FILES = {
    "a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {when: 2026-01-01, n: '7'}\n---\n---\n"
    "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Service, metadata: {name: s}}\n"
    "- {apiVersion: v1, kind: Secret, metadata: {name: t}, data: {x: !!binary aGVsbG8=}}\n",
    "b/c.json": '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "j"}, "data": {"k": "v"}}',
    "b/d.yml": "apiVersion: example.io/v1\nkind: Thing\nmetadata: {name: odd}\nspec:\n  base: &b {x: 1, y: [yes, no, ~, .inf]}\n"
    "  copy: *b\n  merged:\n    <<: *b\n    y: 3\n  set: !!set {p, q}\n",
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name, text in FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    for example in sorted((ROOT / "examples").glob("*.yaml")):
        (tmp_path / "examples" / example.name).parent.mkdir(exist_ok=True)
        (tmp_path / "examples" / example.name).write_text(example.read_text())
    return tmp_path


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Every input counts as large; the worker processes started are recorded."""
    started: list[subprocess.Popen[bytes]] = []
    popen = subprocess.Popen

    def recording(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        process: subprocess.Popen[bytes] = popen(*args, **kwargs)
        started.append(process)
        return process

    monkeypatch.setattr(read_ahead, "AHEAD_MIN_BYTES", 0)
    monkeypatch.setattr(subprocess, "Popen", recording)
    yield started
    for process in started:
        assert process.poll() is not None, "a worker outlived its reading"


def _read(documents: Iterator[Any]) -> list[tuple[str, int, Any]]:
    return [(document.file, document.index, document.obj) for document in documents]


def test_the_worker_reads_what_the_manifest_reader_reads(folder: Path, workers: list[Any]) -> None:
    expected = _read(iter_documents([str(folder)], keep_nodes=False))
    assert _read(iter_documents_ahead([str(folder)])) == expected
    assert len(workers) == 1 and workers[0].returncode == 0
    assert len(expected) >= 8 and all(document.node is None for document in iter_documents_ahead([str(folder)]))


def test_aliases_still_share_one_object(folder: Path, workers: list[Any]) -> None:
    spec = next(d.obj["spec"] for d in iter_documents_ahead([str(folder)]) if d.obj["kind"] == "Thing")
    assert spec["copy"] is spec["base"]  # a billion-laughs document stays small after the hand-over
    assert workers


@pytest.mark.parametrize(
    ("name", "content"),
    [("b/e.yaml", "apiVersion: v1\nkind: [broken\n"), ("b/e.yaml", b"\xff\xfe not utf-8"), ("b/e.yaml", "- 1\n")],
)
def test_an_error_comes_after_the_documents_before_it_with_the_same_message(
    folder: Path, workers: list[Any], name: str, content: str | bytes
) -> None:
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    expected: list[Any] = []
    with pytest.raises(ManifestError) as direct:
        for document in iter_documents([str(folder)], keep_nodes=False):
            expected.append((document.file, document.index, document.obj))
    read: list[Any] = []
    with pytest.raises(ManifestError) as ahead:
        for document in iter_documents_ahead([str(folder)]):
            read.append((document.file, document.index, document.obj))
    assert str(ahead.value) == str(direct.value) and "e.yaml" in str(direct.value)
    assert read == expected and read
    assert workers


@pytest.mark.parametrize(
    "worker",
    [(sys.executable, "-c", "import sys; sys.exit(3)"), ("/nonexistent/python",),
     (sys.executable, "-c", "import sys; sys.stdout.buffer.write(b'\\x00\\x00\\x01\\x00abc')"),
     (sys.executable, "-c", "import sys; sys.stdout.buffer.write(b'\\x00\\x00\\x00\\x04\\x00abc')"),
     (sys.executable, "-c", "import pickle, sys; b = pickle.dumps(7); sys.stdout.buffer.write(len(b).to_bytes(4, 'big') + b)")],
    ids=["exits", "cannot start", "truncated", "garbled", "not a pair"],
)  # fmt: skip
def test_a_worker_that_stops_leaves_the_reading_to_this_process(
    folder: Path, workers: list[Any], monkeypatch: pytest.MonkeyPatch, worker: tuple[str, ...]
) -> None:
    monkeypatch.setattr(read_ahead, "WORKER", worker)
    assert _read(iter_documents_ahead([str(folder)])) == _read(iter_documents([str(folder)], keep_nodes=False))


def test_a_reading_stopped_early_ends_its_worker(folder: Path, workers: list[Any]) -> None:
    documents = iter_documents_ahead([str(folder)])
    next(documents)
    documents.close()
    assert len(workers) == 1 and workers[0].poll() is not None


def test_small_inputs_and_stdin_are_read_here(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("no worker for a small input")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    assert sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) < read_ahead.AHEAD_MIN_BYTES
    assert _read(iter_documents_ahead([str(folder)])) == _read(iter_documents([str(folder)], keep_nodes=False))
    monkeypatch.setattr(read_ahead, "AHEAD_MIN_BYTES", 0)
    monkeypatch.setattr("sys.stdin", io.StringIO(FILES["a.yaml"]))
    assert [d.obj["kind"] for d in iter_documents_ahead(["-", str(folder / "a.yaml")])][:3] == [
        "ConfigMap",
        "Service",
        "Secret",
    ]


def test_the_console_script_starts_the_reading_before_the_engine_is_imported(folder: Path) -> None:
    # `haproxy-guard audit` parses its command line with argparse alone, starts the worker, and only then
    # imports the engine (a third of a second), so the worker has the input under way meanwhile
    code = """
import sys
from haproxy_guard.cli import entry, read_ahead
read_ahead.AHEAD_MIN_BYTES = 0
start = read_ahead._start
def spying(files):
    print("engine imported" if "haproxy_guard.policies.engine" in sys.modules else "engine not imported", file=sys.stderr)
    return start(files)
read_ahead._start = spying
sys.exit(entry.main(sys.argv[1:]))
"""
    for word in ("json", "sarif"):
        result = subprocess.run(
            [sys.executable, "-c", code, "audit", str(folder), "--format", word],
            capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        assert result.returncode in {0, 1}, result.stderr
        # SARIF needs YAML nodes, so it is read in process; the report is the same either way
        assert ("engine not imported" in result.stderr) == (word == "json"), result.stderr
    direct = subprocess.run(
        [sys.executable, "-m", "haproxy_guard.cli.main", "audit", str(folder), "--format", "json"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    ahead = subprocess.run(
        [sys.executable, "-c", code, "audit", str(folder), "--format", "json"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert ahead.stdout == direct.stdout and ahead.returncode == direct.returncode


@pytest.mark.parametrize(("command", "batch"), [("audit", True), ("mutate", True), ("check-config", False)])
def test_batch_commands_collect_cycles_less_often(folder: Path, tmp_path: Path, command: str, batch: bool) -> None:
    # `audit` and `mutate` hold many acyclic objects: the console script raises the collector's thresholds for
    # them (entry.BATCH_COLLECTOR_THRESHOLDS), and leaves every other command at Python's
    code = """
import gc, sys
from haproxy_guard.cli import entry
code = entry.main(sys.argv[1:])
print(gc.get_threshold(), file=sys.stderr)
sys.exit(code)
"""
    (tmp_path / "haproxy.cfg").write_text("global\n  maxconn 100\n")
    target = str(folder) if command != "check-config" else str(tmp_path / "haproxy.cfg")
    result = subprocess.run(
        [sys.executable, "-c", code, command, target], capture_output=True, text=True, check=False, timeout=120
    )
    expected = BATCH_COLLECTOR_THRESHOLDS if batch else (700, 10, 10)
    assert result.stderr.strip().splitlines()[-1] == str(expected), result.stderr
