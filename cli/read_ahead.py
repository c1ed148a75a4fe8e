"""Reading manifests in a second process while the audit evaluates them (`iter_documents_ahead`).

Parsing YAML is about a third of a large audit's time on the interpreter lock, which the evaluations, the
rendering of configurations and the report also need; the `haproxy -c` checks leave part of a second core
idle. So for a large input (`AHEAD_MIN_FILES` files and `AHEAD_MIN_BYTES` bytes or more) a worker process
(`python -m haproxy_guard.cli.read_ahead`, which imports only the manifest reader) parses the files in
input order and hands each file's objects over as they are ready, while this process checks the ones
before. The documents, their order and every error are those of `manifests.iter_documents` (the worker
calls the same `parse_text`): the tests compare both. Without YAML nodes, so not for SARIF (which maps
findings to lines). If the worker cannot start or stops early, the remaining files are read here.

Protocol: the file list goes to the worker's stdin as one pickle; for each file, in order, the worker writes
a 4-byte big-endian length and a pickle of `("ok", [(index, object), ...])` or `("error", message)` (then
it stops). Pickles are made by the worker from parsed data (plain dicts, lists, scalars): nothing in an
input file can become a pickle opcode.
"""

from __future__ import annotations

import contextlib
import fcntl
import pickle
import struct
import subprocess
import sys
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from haproxy_guard.cli.manifests import STDIN, Document, ManifestError, expand, iter_documents, parse_file

AHEAD_MIN_FILES = 2
"""Objects are handed over a whole file at a time: one file alone would only be parsed elsewhere, not ahead."""
AHEAD_MIN_BYTES = 256 * 1024
"""Below this, the worker's start (about 0.1 s of CPU) costs more than the parsing it would take over."""

PIPE_BYTES = 1 << 20
"""The worker's output pipe (the most an unprivileged process may ask for by default): about 250 files of
the benchmark corpus, so the worker keeps parsing while this process is still importing the engine."""
_LENGTH = struct.Struct(">I")
WORKER = (sys.executable, "-m", "haproxy_guard.cli.read_ahead")


def _worth_it(files: list[str]) -> bool:
    if len(files) < AHEAD_MIN_FILES or STDIN in files:
        return False
    size = 0
    for file in files:
        with contextlib.suppress(OSError):
            size += Path(file).stat().st_size
    return size >= AHEAD_MIN_BYTES


def audit_documents(paths: Sequence[str], output_format: str, exclude: Sequence[str] = ()) -> Iterator[Document]:
    """The audit's input: with YAML nodes for SARIF (findings mapped to lines), else read ahead."""
    if output_format == "sarif":
        return iter_documents(paths, keep_nodes=True, exclude=exclude)
    return iter_documents_ahead(paths, exclude)


def iter_documents_ahead(paths: Sequence[str], exclude: Sequence[str] = ()) -> Generator[Document, None, None]:
    """`iter_documents(paths, keep_nodes=False)`, parsed by a worker process when the input is large. The
    worker starts now, before the first document is asked for; an error in `paths` is raised at that ask."""
    try:
        files = expand(paths or [STDIN], exclude)
    except ManifestError as error:
        return _raising(error)
    return _documents(files, _start(files) if _worth_it(files) else None)


def _raising(error: ManifestError) -> Generator[Document, None, None]:
    raise error
    yield  # a generator, like the others


def _start(files: list[str]) -> subprocess.Popen[bytes] | None:
    """The worker, given the file list (None when it cannot start: the files are then read here)."""
    try:
        worker = subprocess.Popen(
            WORKER, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=True
        )
    except OSError:
        return None
    assert worker.stdin is not None and worker.stdout is not None
    with contextlib.suppress(OSError):  # room for about a quarter of a thousand files' objects ahead
        fcntl.fcntl(worker.stdout.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    with contextlib.suppress(BrokenPipeError):
        worker.stdin.write(pickle.dumps(files, protocol=5))
    with contextlib.suppress(BrokenPipeError):
        worker.stdin.close()
    return worker


def _frame(stream: IO[bytes]) -> tuple[str, Any] | None:
    """The next file's answer, or None at the end of the stream (a worker that stopped)."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(head)
    body = stream.read(length)
    if len(body) < length:
        return None
    try:
        kind, payload = pickle.loads(body)  # noqa: S301 - our worker's pickle of parsed data (module docstring)
    except (pickle.UnpicklingError, ValueError, TypeError, EOFError):
        return None  # a garbled stream (a debugger attached to the worker did it once): read the rest here
    return str(kind), payload


def _documents(files: list[str], worker: subprocess.Popen[bytes] | None) -> Generator[Document, None, None]:
    if worker is None:
        for file in files:
            yield from parse_file(file, keep_nodes=False)
        return
    try:
        assert worker.stdout is not None
        for position, file in enumerate(files):
            answer = _frame(worker.stdout)
            if answer is None:  # the worker stopped: the rest is read here, with the same errors
                for rest in files[position:]:
                    yield from parse_file(rest, keep_nodes=False)
                return
            kind, payload = answer
            if kind == "error":
                raise ManifestError(str(payload))
            for index, obj in payload:
                yield Document(file, index, obj)
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(timeout=5)  # it has written its last file and is exiting
    finally:
        if worker.poll() is None:  # stopped early (an error, a closed generator) or stuck: not needed any more
            worker.kill()
        worker.wait()
        if worker.stdout is not None:
            worker.stdout.close()


def _send(stream: IO[bytes], answer: tuple[str, object]) -> None:
    data = pickle.dumps(answer, protocol=5)
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def worker_main() -> int:
    """The worker: the file list from stdin, each file's objects (or the error that ends the reading) to
    stdout, in order."""
    files = pickle.load(sys.stdin.buffer)  # noqa: S301 - the file list, from the process that started this one
    for file in files:
        try:
            documents = parse_file(file, keep_nodes=False)
        except ManifestError as error:
            _send(sys.stdout.buffer, ("error", str(error)))
            return 0
        _send(sys.stdout.buffer, ("ok", [(document.index, document.obj) for document in documents]))
    return 0


if __name__ == "__main__":
    sys.exit(worker_main())
