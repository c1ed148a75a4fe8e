"""What one process learnt about a validator binary, kept for the next: its version and the words looked up
in its vocabulary and found there (`vocabulary.knows`), in the user's cache folder, by the binary's identity.

Each `audit` asked every binary for its version (`haproxy -v`, about 20 ms of CPU each) and searched each
binary for the ten or so words of HAProxy's messages (a scan of 3-6 MB for each: about 0.1 s for five
branches), before and while it checked anything: a tenth of an audit of 1,000 releases. Both are facts of
the file: the cache is keyed by the binary's path, device, inode, size, modification and change times, so a
binary replaced or rewritten in place is a new entry, asked again.

Off unless a command turns it on (`enable`): the command line does, for the user's cache folder
(`$XDG_CACHE_HOME/haproxy-guard/binaries`, `~/.cache` without it); the webhook and the checker never do.
What it holds is trusted as the validators next to it in the same folder are (`validators install` puts
them there): a user who can write it can replace those too. Only words found in the binary are kept (public
strings of a public file): a word it lacks may come from a message quoting something that is neither the
submission nor HAProxy's (what the filter withholds), and is never written anywhere. A file is one fact a
line, appended (`version X.Y` or `word WORD`), read whole, at most `MAX_LINES`: an entry that has grown past
it learns nothing more. Any failure to read or write only means asking the binary again.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from pathlib import Path

MAX_LINES = 4096
"""Facts kept for one binary (about 20 words are looked up in an ordinary audit)."""
_LINE = re.compile(r"(?:version (\d+\.\d+)|word (\w+))\Z", re.ASCII)
_LOCK = threading.Lock()
_folder: list[Path] = []
_loaded: dict[str, dict[str, object]] = {}
_lines: dict[str, int] = {}


def default_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "haproxy-guard" / "binaries"


def enable(folder: Path | None = None) -> None:
    """Keep facts in `folder` (`default_folder()`) from now on, in this process."""
    with _LOCK:
        _folder[:] = [folder or default_folder()]
        _loaded.clear()
        _lines.clear()


def disable() -> None:
    with _LOCK:
        _folder.clear()
        _loaded.clear()
        _lines.clear()


def _entry(binary: str) -> Path | None:
    """The file of this binary's facts, or None when off or the binary cannot be looked at."""
    if not _folder:
        return None
    try:
        real = os.path.realpath(binary)
        found = Path(real).stat()
    except OSError:
        return None
    identity = "\0".join(
        str(part) for part in (real, found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns)
    )
    return _folder[0] / f"{hashlib.sha256(identity.encode('utf-8', 'surrogateescape')).hexdigest()}.facts"


def _facts(binary: str) -> dict[str, object]:
    """What is known of `binary` (read once per process); caller holds `_LOCK`."""
    known = _loaded.get(binary)
    if known is not None:
        return known
    known = {}
    count = 0
    entry = _entry(binary)
    if entry is not None:
        try:
            text = entry.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError):
            text = ""
        for line in text.splitlines()[:MAX_LINES]:
            count += 1
            match = _LINE.match(line)
            if match is None:
                continue
            if match.group(1):
                known["version"] = match.group(1)
            else:
                known["word " + match.group(2)] = True
    _loaded[binary] = known
    _lines[binary] = count
    return known


def _append(binary: str, line: str) -> None:
    """Add one fact to the binary's file (best effort); caller holds `_LOCK`."""
    entry = _entry(binary)
    if entry is None or _lines.get(binary, 0) >= MAX_LINES:
        return
    try:
        entry.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(entry, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            os.write(descriptor, (line + "\n").encode("ascii"))
        finally:
            os.close(descriptor)
    except OSError:
        return
    _lines[binary] = _lines.get(binary, 0) + 1


def version(binary: str) -> str | None:
    """The version recorded for `binary`, or None when none is (or the cache is off)."""
    with _LOCK:
        if not _folder:
            return None
        found = _facts(binary).get("version")
    return found if isinstance(found, str) else None


def remember_version(binary: str, value: str) -> None:
    if not re.fullmatch(r"\d+\.\d+", value):
        return
    with _LOCK:
        if _folder and _facts(binary).get("version") != value:
            _facts(binary)["version"] = value
            _append(binary, f"version {value}")


def word(binary: str, name: str) -> bool | None:
    """True when `name` was found in the binary's vocabulary before, None when that is not known."""
    with _LOCK:
        if not _folder:
            return None
        found = _facts(binary).get("word " + name)
    return found if isinstance(found, bool) else None


def remember_word(binary: str, name: str, known: bool) -> None:
    """Keep `name` as found in the binary; a word not found is never kept (see the module's docstring)."""
    if not known or not re.fullmatch(r"\w+", name, re.ASCII):
        return
    with _LOCK:
        if _folder and _facts(binary).get("word " + name) is None:
            _facts(binary)["word " + name] = True
            _append(binary, f"word {name}")
