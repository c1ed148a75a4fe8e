"""Configurations that load code (`lua-load`, `ssl-provider`...): when their code may run in a check, and which
errors then come from code the submission does not carry.

Refusing every such configuration denied real ones (CORS, auth-request and ACME scripts) for what they are,
not for being wrong. Where the check runs in the checker container (privilege separation: nothing to steal
beside it) with every layer that holds against arbitrary code in force, the code runs inside the jail and the
configuration is checked for real (`codeLoading: check`). Code named by a path the submission does not provide
(a Lua file or a provider in the image) cannot be checked: an error on the line that loads it, or, when such
Lua is missing, on a line using a Lua action, service, fetch or converter (`lua.NAME`), becomes a "not
checked" warning, never a denial for loading code. Everywhere else the directives are refused by name.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence

from haproxy_guard.policies.haproxy.bundle import ConfigBundle
from haproxy_guard.policies.haproxy.directives import CodeLoad
from haproxy_guard.policies.haproxy.lexer import physical_lines
from haproxy_guard.policies.haproxy.sandbox import Layers

MIN_LANDLOCK_ABI = 4
"""TCP rules (ABI 4): without a network namespace (most pods) Landlock and seccomp carry the network rules."""
CODE_LAYERS = ("landlock", "seccomp", "no_new_privs", "rlimits")


def may_run_code(layers: Layers) -> bool:
    """Whether these layers hold against code the submission chooses."""
    return not layers.missing(CODE_LAYERS) and layers.landlock_abi >= MIN_LANDLOCK_ABI


def _provided(target: str, bundle: ConfigBundle) -> bool:
    """Whether `target` (as written) names a file the submission carries, absolute or from the pod's
    configuration folder."""
    if not target:
        return False
    path = target if target.startswith("/") else posixpath.join(bundle.config_dir, target)
    return posixpath.normpath(path) in bundle.files or target in bundle.files


class OutsideCode:
    """For an error at a place of the submission: the code from outside it that the line needs, if any."""

    def __init__(self, loads: Sequence[tuple[str, CodeLoad]], bundle: ConfigBundle) -> None:
        outside = [(display, load) for display, load in loads if not _provided(load.target, bundle)]
        self.lines = {(display, load.number): load.target or load.keyword for display, load in outside}
        lua = [load.target for _, load in outside if load.keyword.startswith("lua-")]
        self.lua = ", ".join(lua)
        self.texts = {display: dict(physical_lines(text)) for display, text in bundle.configs} if lua else {}

    def __bool__(self) -> bool:
        return bool(self.lines)

    def needed_at(self, config: str, line: int | None) -> str | None:
        if line is None:
            return None
        if (config, line) in self.lines:
            return self.lines[config, line]
        if self.lua and "lua." in self.texts.get(config, {}).get(line, ""):
            return self.lua
        return None
