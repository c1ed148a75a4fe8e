"""Variables a configuration reads whose values are unknown at admission, and what the check does about them.

A container's environment is not always knowable when its workload is admitted: `valueFrom` a Secret or a
field, `envFrom` a Secret (any name may then be defined), or no workload at all (a ConfigMap checked alone).
Such a variable gets a stand-in value (`STAND_IN`, "1": it parses as a port, an address, a number, a
duration), so that `bind :${PORT}` does not fail for lack of a value the pod will have; and an error on a
line that reads one, or any error when an `.if`/`.elif` condition reads one, is reported as a warning instead
of denying: the configuration's validity depends on what only the pod knows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from haproxy_guard.policies.haproxy.bundle import ConfigBundle
from haproxy_guard.policies.haproxy.lexer import physical_lines

STAND_IN = "1"
_REFERENCE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_DEFINED = re.compile(r"\bdefined\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)")
_SETS = re.compile(r"^\s*(?:setenv|presetenv)\s+([A-Za-z_][A-Za-z0-9_]*)\b")
_CONDITION = re.compile(r"^\s*\.(?:if|elif)\b")
_OPENS = re.compile(r"^\s*\.if\b")
_CLOSES = re.compile(r"^\s*\.endif\b")


@dataclass(frozen=True, slots=True)
class Unknowns:
    names: frozenset[str] = frozenset()
    lines: tuple[tuple[str, int, frozenset[str]], ...] = ()
    """(configuration, line, the unknown variables it reads) of each line reading one."""
    blocks: tuple[tuple[str, int, int], ...] = ()
    """(configuration, first, last line) of each `.if` block whose condition reads one: which of its lines
    HAProxy sees is itself unknown."""

    @property
    def conditional(self) -> bool:
        return bool(self.blocks)

    def stand_ins(self) -> dict[str, str]:
        return dict.fromkeys(self.names, STAND_IN)

    def in_block(self, config: str, line: int | None) -> bool:
        return any(where == config and (line is None or first <= line <= last) for where, first, last in self.blocks)

    def read_at(self, config: str, line: int | None) -> frozenset[str]:
        """The unknown variables an error at this place may come from (all of them after an unknown `.if`)."""
        if self.in_block(config, line):
            return self.names
        return next((names for where, number, names in self.lines if (where, number) == (config, line)), frozenset())


def find_unknowns(bundle: ConfigBundle) -> Unknowns:
    """The variables `bundle`'s configurations read that the container may define with values unknown here.
    `HAPROXY_*` variables (HAProxy sets them) and those the configuration sets itself are never unknown."""
    if not bundle.unknown_env and not bundle.env_open:
        return Unknowns()
    set_here = {name for _, text in bundle.configs for _, line in physical_lines(text) for name in _sets(line)}

    def unknown(name: str) -> bool:
        if name in bundle.env or name in set_here or name.startswith("HAPROXY_"):
            return False
        return name in bundle.unknown_env or bundle.env_open

    names: set[str] = set()
    lines: list[tuple[str, int, frozenset[str]]] = []
    blocks: list[tuple[str, int, int]] = []
    for display, text in bundle.configs:
        open_blocks: list[tuple[int, bool]] = []  # (first line, whether a condition reads an unknown)
        number = 0
        for number, line in physical_lines(text):
            if _OPENS.match(line):
                open_blocks.append((number, False))
            elif _CLOSES.match(line) and open_blocks:
                first, reads_unknown = open_blocks.pop()
                if reads_unknown:
                    blocks.append((display, first, number))
            if "$" not in line and "defined" not in line:
                continue
            condition = bool(_CONDITION.match(line))
            read = set(_REFERENCE.findall(line)) | (set(_DEFINED.findall(line)) if condition else set())
            found = {name for name in read if unknown(name)}
            if found:
                names |= found
                lines.append((display, number, frozenset(found)))
                if condition and open_blocks:
                    open_blocks[-1] = (open_blocks[-1][0], True)
        blocks += [(display, first, number) for first, reads_unknown in open_blocks if reads_unknown]
    return Unknowns(frozenset(names), tuple(lines), tuple(blocks))


def _sets(line: str) -> list[str]:
    match = _SETS.match(line)
    return [match.group(1)] if match else []
