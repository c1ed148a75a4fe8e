"""`haproxy-guard check-config FILE... [--haproxy BIN | --haproxy-version X.Y | --all-versions]`: the
validator on plain files, as CI would run it.

Without a choice the files are valid when some branch accepts them (as for a ConfigMap of unknown version);
`--haproxy-version 3.2` asks that branch; `--all-versions` prints `FILES: valid|invalid (HAProxy X.Y)` for
every branch found, so a user about to upgrade sees what breaks before the rollout.

The files are checked in order (like repeated `-f`) in the same sandbox as ConfigMaps. Files that sit next
to them (same folders, up to 200 files of 1 MiB) are provided at their real paths and at their paths
relative to the working directory, so maps, ACL lists, error files and certificates kept beside the
configuration are checked with their contents; anything else is a placeholder, as in the webhook.

The environment the pods will have is unknown to a file alone, so it is *open* (as for a ConfigMap checked
alone): a variable the files read gets a stand-in value, and an error that may come from its real value is a
warning, not a failure. `--env NAME=VALUE` (repeatable) gives known values; `--closed-env` says no other
variable is defined (as in a container without `envFrom`), so `bind :${PORT}` with PORT unset fails as it
would in the pod.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from haproxy_guard.policies.haproxy.bundle import ConfigBundle
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


def parse_env(entries: Sequence[str]) -> dict[str, str]:
    """`NAME=VALUE` entries as a mapping (a usage error names the entry without `=`)."""
    env: dict[str, str] = {}
    for entry in entries:
        name, equals, value = entry.partition("=")
        if not equals or not name:
            raise CheckConfigError(f"--env {entry}: expected NAME=VALUE")
        env[name] = value
    return env


def check_files(
    paths: Sequence[Path],
    binary: str | None = None,
    version: str | None = None,
    all_versions: bool = False,
    *,
    env: dict[str, str] | None = None,
    closed_env: bool = False,
) -> int:
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
    bundle = ConfigBundle(
        tuple(configs),
        _neighbours(paths),
        env or {},
        env_open=not closed_env,
        config_dir=str(paths[0].resolve().parent),
    )
    if version is not None and not re.match(r"^\d+\.\d+$", version):
        raise CheckConfigError(f"--haproxy-version {version}: expected a branch like 3.2")
    missing = validator.missing(version)
    if missing is not None:
        raise CheckConfigError(f"--haproxy-version {version}: {missing.removeprefix('not checked: ')}")
    versions = (
        sorted(validator.binaries, key=lambda v: tuple(int(p) for p in v.split("."))) if all_versions else [version]
    )
    names = ", ".join(str(path) for path in paths)
    failed = False
    for wanted in versions:
        result = validator.validate(bundle, wanted)
        prefix = f"HAProxy {result.version}: " if all_versions else ""
        for message in result.errors:
            print(f"{prefix}{message}")
        for message in result.warnings:
            print(f"warning: {prefix}{message}", file=sys.stderr)
        verdict = "valid" if result.valid else "invalid"
        print(f"{names}: {verdict} (HAProxy {result.version})", file=sys.stdout if all_versions else sys.stderr)
        failed = failed or not result.valid
    return 1 if failed else 0
