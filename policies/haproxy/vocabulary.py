"""HAProxy's own vocabulary: the words of every printable string in a validator binary.

A message of `haproxy -c` is shown only when each of its words is in the submission or in the binary that
printed it (see `validator._Vocabulary`), so nothing from outside the two is echoed. Reading the words costs
0.1-0.15 s of CPU per binary (a scan of 3-6 MB), once per process; a command line that checks with five
branches paid it five times per call, a fifth of an `audit` of 1,000 releases. So the words are also kept
on disk, one file per binary, and read back while the binary is unchanged:
- where: `$HAPROXY_GUARD_CACHE_DIR/vocabulary`, else `$XDG_CACHE_HOME/haproxy-guard/vocabulary`, else
  `~/.cache/haproxy-guard/vocabulary`; `HAPROXY_GUARD_CACHE_DIR=""` turns the files off;
- the file is named after the binary's path, device, inode, size and modification time, and repeats them on
  its first line: a replaced or rebuilt binary gets a new file;
- a file that is not exactly such a header and one word (`[A-Za-z0-9_]+`) per line is ignored, and any
  failure to read or write (a read-only image, no home folder) falls back to reading the binary.
Whoever can write that folder can widen the vocabulary, which needs the same account as the process.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import threading
from pathlib import Path

CACHE_DIR_ENV = "HAPROXY_GUARD_CACHE_DIR"
FORMAT = "haproxy-guard vocabulary 1"
_PRINTABLE_RUN = re.compile(rb"[\x20-\x7e]{3,}")
_WORD_BYTES = re.compile(rb"[A-Za-z0-9_]+")
_WORD_LINE = re.compile(r"[A-Za-z0-9_]+")
_WORDS: dict[str, frozenset[str]] = {}
_LOCK = threading.Lock()


def read_words(binary: str) -> frozenset[str]:
    """The words of every printable run (3 bytes or more) in the file: what `strings` shows, split in words."""
    try:
        data = Path(binary).read_bytes()
    except OSError:
        return frozenset()
    found = set(_WORD_BYTES.findall(b"\0".join(_PRINTABLE_RUN.findall(data))))
    return frozenset(word.decode("ascii") for word in found)


def cache_dir() -> Path | None:
    """Where the vocabulary files live, or None when they are turned off (see the module's docstring)."""
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured is not None:
        return Path(configured) / "vocabulary" if configured else None
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "haproxy-guard" / "vocabulary"
    if os.environ.get("HOME"):
        return Path(os.environ["HOME"]) / ".cache" / "haproxy-guard" / "vocabulary"
    return None


def _header(binary: str) -> str | None:
    try:
        real = Path(binary).resolve()
        stat = real.stat()
    except OSError:
        return None
    return f"{FORMAT}\t{real}\t{stat.st_dev}\t{stat.st_ino}\t{stat.st_size}\t{stat.st_mtime_ns}"


def _load(path: Path, header: str) -> frozenset[str] | None:
    try:
        lines = path.read_text(encoding="ascii").split("\n")
    except (OSError, UnicodeDecodeError):
        return None
    if lines[0] != header or lines[-1] != "":
        return None
    words = lines[1:-1]
    if not all(_WORD_LINE.fullmatch(word) for word in words):
        return None
    return frozenset(words)


def _store(folder: Path, path: Path, header: str, words: frozenset[str]) -> None:
    with contextlib.suppress(OSError):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=folder, prefix=".words-")
        temporary = Path(name)
        try:
            with os.fdopen(handle, "w", encoding="ascii") as out:
                out.write(header + "\n" + "".join(word + "\n" for word in sorted(words)))
            temporary.replace(path)
        finally:
            temporary.unlink(missing_ok=True)


def binary_words(binary: str) -> frozenset[str]:
    """The binary's vocabulary, from memory, the cache file, or the binary itself (then saved); checks that
    need it at the same time wait for the first instead of reading it again."""
    words = _WORDS.get(binary)
    if words is not None:
        return words
    with _LOCK:
        words = _WORDS.get(binary)
        if words is None:
            words = _WORDS[binary] = _cached_or_read(binary)
        return words


def _cached_or_read(binary: str) -> frozenset[str]:
    folder, header = cache_dir(), _header(binary)
    if folder is None or header is None:
        return read_words(binary)
    path = folder / (hashlib.sha256(header.encode()).hexdigest() + ".words")
    words = _load(path, header)
    if words is None:
        words = read_words(binary)
        _store(folder, path, header, words)
    return words
