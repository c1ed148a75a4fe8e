"""`haproxy-guard check-config FILE... [--haproxy BIN]`: the validator on plain files, as CI would run it.

The files are checked in order (like repeated `-f`) in the same sandbox as ConfigMaps. Files that sit next
to them (same folders, up to 200 files of 1 MiB) are provided at their real paths and at their paths
relative to the working directory, so maps, ACL lists, error files and certificates kept beside the
configuration are checked with their contents; anything else is a placeholder, as in the webhook.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from haproxy_guard.policies.haproxy.render import ConfigBundle
from haproxy_guard.policies.haproxy.validator import Validator, binary_version, build_validator

MAX_NEIGHBOURS, MAX_NEIGHBOUR_BYTES = 200, 1024 * 1024


class CheckConfigError(Exception):
    """Unreadable input or no usable validator (exit 2)."""


def _neighbours(configs: Sequence[Path]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    cwd, taken = Path.cwd(), 0
    for folder in dict.fromkeys(path.resolve().parent for path in configs):
        for entry in folder.rglob("*"):
            if taken >= MAX_NEIGHBOURS:
                return files
            if entry.is_file() and not entry.is_symlink() and entry.stat().st_size <= MAX_NEIGHBOUR_BYTES:
                taken += 1
                files[str(entry)] = content = entry.read_bytes()
                if entry.is_relative_to(cwd):
                    files[os.path.normpath(entry.relative_to(cwd))] = content
    return files


def check_files(paths: Sequence[Path], binary: str | None = None) -> int:
    """Print `FILE:LINE: message` lines; 0 valid, 1 invalid."""
    configs = []
    for path in paths:
        try:
            configs.append((str(path), path.read_text(encoding="utf-8", errors="replace")))
        except OSError as error:
            raise CheckConfigError(f"{path}: {error.strerror or error}") from None
    if binary is not None:
        version = binary_version(binary)
        if version is None:
            raise CheckConfigError(f"--haproxy {binary}: not a working HAProxy binary")
        validator: Validator | None = Validator({version: binary})
    else:
        validator = build_validator()
    if validator is None:
        raise CheckConfigError("no HAProxy binary found: install haproxy or pass --haproxy BIN")
    result = validator.validate(ConfigBundle(tuple(configs), _neighbours(paths)))
    for message in result.errors:
        print(message)
    for message in result.warnings:
        print(f"warning: {message}", file=sys.stderr)
    verdict = "valid" if result.valid else "invalid"
    print(f"{', '.join(str(p) for p in paths)}: {verdict} (HAProxy {result.version})", file=sys.stderr)
    return 0 if result.valid else 1
