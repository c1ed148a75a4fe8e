"""Runs of `haproxy -c` shared by every bundle that renders to the same input.

The validator's cache is keyed by the bundle (`ConfigBundle.digest`): what was submitted and what is known
around it. Bundles that differ can still render to the very same files: a ConfigMap checked alone and the
same ConfigMap as a Deployment mounts it differ in their environment and folders, but a configuration that
reads no variable and no file renders identically for both. HAProxy then reads the same bytes under the
same command line and environment, so its outcome is the same, and one run serves both.

The key (`rendered_key`) covers everything the jailed process can see: every file and folder of the sandbox
(names, kinds, bytes), the command line, the environment, the binary, the limits and the layers asked for.
The sandbox's own path differs per check: it is replaced by a marker in the key and in the kept output, and
the current sandbox's path put back on reuse (the messages name placeholders by their full path). Only
complete runs are kept (not a timeout, not a refused sandbox): those are never cached either.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from haproxy_guard.policies.digest import record
from haproxy_guard.policies.haproxy.sandbox import JailResult

_ESCAPE = b"\x01"
MARKER = _ESCAPE + b"R"
_MASKED = re.compile(re.escape(_ESCAPE) + b"([\x01R])")


def mask(data: bytes, root: bytes) -> bytes:
    """`data` with every `root` replaced by `MARKER`, after the escape byte itself is doubled: a text that
    holds the marker's bytes (a submitted file can) never masks like one that holds the root."""
    return data.replace(_ESCAPE, _ESCAPE + _ESCAPE).replace(root, MARKER)


def unmask(data: bytes, root: bytes) -> bytes:
    """The inverse of `mask` for a new `root`."""
    return _MASKED.sub(lambda match: _ESCAPE if match.group(1) == _ESCAPE else root, data)


def _entries(root: Path) -> Iterable[tuple[str, Path]]:
    """Every file and folder below `root`, in a fixed order, symbolic links not followed."""
    for folder, folders, files in os.walk(root, followlinks=False):
        folders.sort()
        base = Path(folder)
        for name in [*folders, *sorted(files)]:
            path = base / name
            yield path.relative_to(root).as_posix(), path


def rendered_key(root: Path, parts: Iterable[str]) -> str:
    """A digest of what a check in `root` runs on: every entry of the folder and `parts` (the command
    line, the environment, the binary, the limits), with `root`'s own path replaced by a marker."""
    prefix = str(root).encode()
    hasher = hashlib.sha256()
    for part in parts:
        record(hasher, b"P", mask(part.encode("utf-8", "surrogateescape"), prefix))
    for relative, path in _entries(root):
        if path.is_symlink():
            kind, data = b"L", str(path.readlink()).encode("utf-8", "surrogateescape")
        elif path.is_dir():
            kind, data = b"D", b""
        else:
            kind, data = b"F", path.read_bytes()
        record(hasher, kind, relative.encode("utf-8", "surrogateescape"), mask(data, prefix))
    return hasher.hexdigest()


@dataclass(frozen=True, slots=True)
class _Kept:
    result: JailResult
    """With the sandbox's path replaced by `MARKER` in its output."""


class RenderedRuns:
    """The outcomes of complete runs by `rendered_key`, the most recent `entries` of them."""

    def __init__(self, entries: int) -> None:
        self._entries = entries
        self._kept: OrderedDict[str, _Kept] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, root: Path) -> JailResult | None:
        """The outcome of an earlier run on the same input, as if it had run in `root`."""
        with self._lock:
            kept = self._kept.get(key)
            if kept is None:
                return None
            self._kept.move_to_end(key)
        output = unmask(kept.result.output, str(root).encode())
        return replace(kept.result, output=output, seconds=0.0)

    def put(self, key: str, root: Path, result: JailResult) -> None:
        if result.timed_out or result.missing or result.returncode is None:
            return
        kept = _Kept(replace(result, output=mask(result.output, str(root).encode())))
        with self._lock:
            self._kept[key] = kept
            self._kept.move_to_end(key)
            while len(self._kept) > self._entries:
                self._kept.popitem(last=False)
