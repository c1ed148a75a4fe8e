"""What one `haproxy -c` checks (`ConfigBundle`): the configuration files in load order, the other files the
pod sees, its environment and what is unknown there; and the digest that keys the validator's cache.

Kept apart from `render` (which writes a bundle into the sandbox and is compiled, see `haproxy_guard.native`):
the bundle memoizes its digest on the instance, which compiled classes cannot hold.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from haproxy_guard.policies.digest import record
from haproxy_guard.policies.memo import once

DEFAULT_MOUNT_DIR = "/usr/local/etc/haproxy"


@dataclass(frozen=True)
class ConfigBundle:
    """What to check: configuration files in load order, other files by the absolute path the pod sees
    them at, and the container's declared environment."""

    configs: tuple[tuple[str, str], ...]
    files: Mapping[str, bytes] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    complete_dirs: tuple[str, ...] = ()
    """Folders whose whole content the bundle gives (a ConfigMap mounted without subPath hides what the image
    had there): a file referenced there and not provided is really missing, so it gets no stand-in."""
    opaque_dirs: tuple[str, ...] = ()
    """Folders whose content is unknown (a Secret, an unreadable ConfigMap, a volume nested inside a complete
    folder): the deepest folder holding a path decides whether a missing file is really missing."""
    unknown_env: frozenset[str] = frozenset()
    """Variables the container declares whose values are unknown at admission (from a Secret, a field)."""
    env_open: bool = False
    """Whether variables beyond `env` may be defined (an `envFrom` that cannot be read, or no workload at all)."""
    config_dir: str = DEFAULT_MOUNT_DIR
    """The folder the pod loads the configuration from (what `default-path config` points at)."""
    match_by_name: bool = False
    """When the mount paths are unknown (a ConfigMap on its own), a referenced path whose file name is one
    of `files`' names is taken to be that file."""

    @once
    def digest(self) -> str:
        """A digest of everything that decides the check's answer (the validator's cache key, shared by every
        namespace), computed once per bundle (bundles are immutable); each field length-prefixed (`digest`)."""
        hasher = hashlib.sha256()
        for name, text in self.configs:
            record(hasher, b"C", name, text)
        for path in sorted(self.files):
            record(hasher, b"F", path, self.files[path])
        for key in sorted(self.env):
            record(hasher, b"E", key, self.env[key])
        record(hasher, b"M", b"1" if self.match_by_name and self.files else b"0")
        for folder in self.complete_dirs:
            record(hasher, b"D", folder)
        for folder in self.opaque_dirs:
            record(hasher, b"O", folder)
        record(hasher, b"R", self.config_dir)
        for name in sorted(self.unknown_env):
            record(hasher, b"U", name)
        record(hasher, b"+", b"1" if self.env_open else b"0")
        return hasher.hexdigest()

    def known_missing(self, path: str) -> bool:
        """Whether a file the bundle does not give is missing in the pod too: the deepest folder holding it
        is complete (not opaque)."""
        deepest, complete = -1, False
        for folders, is_complete in ((self.complete_dirs, True), (self.opaque_dirs, False)):
            for folder in folders:
                prefix = folder.rstrip("/") + "/"
                if path.startswith(prefix) and len(prefix) > deepest:
                    deepest, complete = len(prefix), is_complete
        return complete
