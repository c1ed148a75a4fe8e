"""The directives HAProxy will act on, as it reads them: decoded lines (see `lexer`), `.if` blocks evaluated,
`setenv`/`presetenv`/`unsetenv`/`resetenv` applied in order, and the code-loading directives found.

The `.if` evaluation is three-valued: a condition the check cannot decide (an unknown predicate, a version
finer than the branch, a variable HAProxy sets itself) counts as possibly true, so a directive in such a
block is still seen. This errs towards refusing, never towards running code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from haproxy_guard.policies.haproxy.lexer import LineArgs, LineError, parse_line, physical_lines

CODE_DIRECTIVES: dict[str, str] = {
    "lua-load": "HAProxy runs a Lua file's top-level code while checking a configuration",
    "lua-load-per-thread": "HAProxy runs a Lua file's top-level code while checking a configuration",
    "lua-prepend-path": "it points Lua's module search at files the configuration chooses",
    "ssl-provider": "OpenSSL loads the named provider (a shared library) and runs its code while parsing",
    "ssl-provider-path": "it points OpenSSL's provider loading at files the configuration chooses",
    "ssl-engine": "OpenSSL loads the named engine (a shared library) and runs its code while parsing",
}
"""Directives that load code while `haproxy -c` parses: refused, never run, whatever their spelling."""

CODE_FILTERS: dict[str, str] = {
    "opentracing": "the OpenTracing filter loads tracer plugins (shared libraries) while checking",
}

Tri = bool | None  # True, False, or undecidable


@dataclass(frozen=True, slots=True)
class Directive:
    """A line HAProxy will (or, in an undecidable `.if` block, may) act on."""

    number: int
    args: LineArgs
    certain: bool = True


@dataclass(frozen=True, slots=True)
class CodeLoad:
    """A code-loading directive: where, which, and why it is refused."""

    number: int
    keyword: str
    reason: str
    target: str = ""
    """What it loads as written (a Lua file, a provider, an engine, a plugin configuration), or empty."""


_VERSION = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?")


def _compare_version(branch: str | None, wanted: str) -> int | None:
    """-1/0/1 comparing the branch (X.Y) with `wanted`; None when the branch alone cannot tell."""
    match = _VERSION.match(wanted.strip())
    if branch is None or match is None:
        return None
    have = _branch(branch)
    want_major, want_minor = int(match.group(1)), int(match.group(2) or 0)
    if have != (want_major, want_minor):
        return -1 if have < (want_major, want_minor) else 1
    return 0 if match.group(3) is None or int(match.group(3)) == 0 else None


MAX_DEPTH = 64
"""Deeper nesting is undecidable here (HAProxy allows more; a refusal then errs towards refusing)."""
_PLAIN = re.compile(r"[\x20-\x7e\t]*")
"""What the model decides on: printable ASCII, spaces and tabs (strtol and HAProxy's blanks agree there)."""
_NUMBER = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
"""What `strtol(text, &end, 0)` consumes: hexadecimal, octal (a leading 0, so `08` stops after the 0), decimal."""
_ARGUMENT = re.compile(r"[A-Za-z0-9_.:/@+=%-]+")
"""Arguments read exactly: no quote, backslash, blank or `$` (make_arg_list gives those meanings of its own)."""
_ARITY = {"defined": 1, "streq": 2, "strneq": 2, "strstr": 2, "version_atleast": 1, "version_before": 1}
_OPAQUE = frozenset({"feature", "enabled", "openssl_version_atleast", "openssl_version_before",
                     "ssllib_name_startswith", "awslc_api_atleast", "awslc_api_before"})  # fmt: skip
"""Predicates of one argument whose answer depends on the binary's build: read, then undecided (None)."""
_SINCE = {"strstr": (2, 8), "enabled": (2, 8)}
"""Predicates a branch before this one does not know (2.6 refuses the line): undecidable there, and where the
branch is unknown."""


class _Undecidable(Exception):
    """The model cannot be sure what HAProxy decides (or HAProxy itself would refuse the line)."""


class _Condition:
    """HAProxy's `.if` expression reader (src/cfgcond.c) over the re-merged line: `!`, `&&`, `||` (both
    right-recursive), parentheses, `strtol` numbers and predicates. Exact where it decides; anything it
    cannot mirror with certainty (other characters, quoting or escapes inside arguments, predicates whose
    answer depends on the build) raises `_Undecidable`, and a predicate known only to the binary is None."""

    def __init__(self, text: str, env: Mapping[str, str], version: str | None) -> None:
        self.text, self.index, self.env, self.version = text, 0, env, version

    def _blank(self) -> None:
        while self.index < len(self.text) and self.text[self.index] in " \t":
            self.index += 1

    def expression(self, depth: int = 0) -> Tri:
        return self._chain("||", self._conjunction, _or, depth)

    def _conjunction(self, depth: int) -> Tri:
        return self._chain("&&", self._term, _and, depth)

    def _chain(self, token: str, operand: Callable[[int], Tri], combine: Callable[[Tri, Tri], Tri], depth: int) -> Tri:
        """`operand [token chain]`: HAProxy reads both operators right-recursively."""
        if depth > MAX_DEPTH:
            raise _Undecidable
        value = operand(depth)
        self._blank()
        if not self.text.startswith(token, self.index):
            return value
        self.index += len(token)
        self._blank()
        return combine(value, self._chain(token, operand, combine, depth + 1))

    def _term(self, depth: int) -> Tri:
        if depth > MAX_DEPTH:
            raise _Undecidable
        self._blank()
        negate = False
        while self.text.startswith("!", self.index):
            negate = not negate
            self.index += 1
            self._blank()
        value = self._positive_term(depth)
        return (not value) if (negate and value is not None) else value

    def _positive_term(self, depth: int) -> Tri:
        number = _NUMBER.match(self.text, self.index)
        if number:
            self.index = number.end()
            digits = number.group(0).lstrip("+-")
            base = 16 if digits[1:2] in ("x", "X") else 8 if digits.startswith("0") else 10
            return int(digits[2:] if base == 16 else digits, base) != 0
        if self.text.startswith("(", self.index):
            self.index += 1
            self._blank()
            value = self.expression(depth + 1)
            self._blank()
            if not self.text.startswith(")", self.index):
                raise _Undecidable  # HAProxy: "expected ')'"
            self.index += 1
            self._blank()
            return value
        name_end = self.index
        while name_end < len(self.text) and self.text[name_end] not in " (":
            name_end += 1
        name = self.text[self.index : name_end]
        arity = 1 if name in _OPAQUE else _ARITY.get(name)
        if name in _SINCE and (self.version is None or _branch(self.version) < _SINCE[name]):
            raise _Undecidable
        close = self.text.find(")", name_end)
        if arity is None or not self.text.startswith("(", name_end) or close < 0:
            raise _Undecidable  # no predicate the model reads (fips_mode, a typo HAProxy refuses...)
        arguments = self.text[name_end + 1 : close].split(",")
        if len(arguments) != arity or not all(_ARGUMENT.fullmatch(argument) for argument in arguments):
            raise _Undecidable
        self.index = close + 1
        return None if name in _OPAQUE else self._predicate(name, arguments)

    def _predicate(self, name: str, arguments: list[str]) -> Tri:
        if name == "defined":
            if arguments[0] in self.env:
                return True
            return None if arguments[0].startswith("HAPROXY_") else False  # HAProxy may set it itself
        if name in {"streq", "strneq", "strstr"}:
            first, second = arguments
            if name == "streq":
                return first == second
            if name == "strneq":
                return first != second
            return second in first
        compared = _compare_version(self.version, arguments[0])
        if compared is None:
            return None
        return compared >= 0 if name == "version_atleast" else compared < 0


def _branch(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".")[:2] if part.isdigit())


def evaluate_condition(text: str, env: Mapping[str, str], version: str | None) -> Tri:
    """The value of a `.if`/`.elif` condition, `text` being the re-merged line after the keyword
    (`LineArgs.merged`), with `env` exactly the environment the checked process gets; None when it cannot be
    decided with certainty (a refusal then counts it as true)."""
    if not text:
        return False  # HAProxy: an empty condition is false
    if not _PLAIN.fullmatch(text):
        return None
    condition = _Condition(text, env, version)
    try:
        value = condition.expression()
    except _Undecidable:
        return None
    condition._blank()
    return value if condition.index == len(condition.text) else None


@dataclass
class _Block:
    state: Tri  # the current branch: taken, dropped, or undecidable
    any_taken: Tri  # whether an earlier branch of this block was taken
    outer: Tri


def directives(text: str, env: Mapping[str, str], version: str | None = None) -> Iterator[Directive]:
    """The lines of one file HAProxy acts on, decoded, with `env` updated by the environment directives
    in force (pass a dict to see the environment after the file; it is changed in place)."""
    stack: list[_Block] = []
    environment = env if isinstance(env, dict) else dict(env)
    for number, raw in physical_lines(text):
        try:
            args = parse_line(raw.lstrip(" \t\v\f\r"), environment)
        except LineError:
            continue  # HAProxy refuses the line itself
        if not args.words:
            continue
        keyword = args.words[0]
        active: Tri = stack[-1].state if stack else True
        if keyword == ".if":
            value = evaluate_condition(args.merged(), environment, version) if active is not False else False
            state = False if active is False else _and(active, value)
            stack.append(_Block(state, state, active))
            continue
        if keyword in {".elif", ".else"} and stack:
            block = stack[-1]
            value = True if keyword == ".else" else evaluate_condition(args.merged(), environment, version)
            not_before = None if block.any_taken is None else not block.any_taken
            block.state = False if block.outer is False else _and(block.outer, _and(not_before, value))
            block.any_taken = True if block.any_taken is True or block.state is True else (
                None if block.any_taken is None or block.state is None else False
            )  # fmt: skip
            continue
        if keyword == ".endif" and stack:
            stack.pop()
            continue
        if active is False:
            continue
        apply_environment(args.words, environment)
        yield Directive(number, args, certain=active is True)


def _and(left: Tri, right: Tri) -> Tri:
    if left is False or right is False:
        return False
    return None if left is None or right is None else True


def _or(left: Tri, right: Tri) -> Tri:
    if left is True or right is True:
        return True
    return None if left is None or right is None else False


def apply_environment(words: Sequence[str], env: dict[str, str]) -> None:
    """`setenv`, `presetenv`, `unsetenv` and `resetenv` applied to `env` in place, as HAProxy applies them."""
    keyword = words[0]
    if keyword == "setenv" and len(words) >= 3:
        env[words[1]] = words[2]
    elif keyword == "presetenv" and len(words) >= 3:
        env.setdefault(words[1], words[2])
    elif keyword == "unsetenv":
        for name in words[1:]:
            env.pop(name, None)
    elif keyword == "resetenv":
        for name in [name for name in env if name not in words[1:]]:
            del env[name]


def code_loads(
    configs: tuple[tuple[str, str], ...], env: Mapping[str, str], version: str | None
) -> Iterator[tuple[str, CodeLoad]]:
    """(file, directive) for every code-loading directive HAProxy would act on, across the files in load
    order (the environment carries from one file to the next, as in one process)."""
    environment = dict(env)
    for display, text in configs:
        for directive in directives(text, environment, version):
            words = directive.args.words
            keyword = words[0]
            if 0 in directive.args.unknown_words:
                yield (
                    display,
                    CodeLoad(
                        directive.number,
                        keyword,
                        "its keyword is built from a variable HAProxy sets itself, which the check cannot know",
                    ),
                )
                continue
            if keyword in CODE_DIRECTIVES:
                target = words[1] if len(words) > 1 else ""
                yield display, CodeLoad(directive.number, keyword, CODE_DIRECTIVES[keyword], target)
            elif keyword == "filter" and len(words) > 1 and words[1] in CODE_FILTERS:
                target = words[-1] if len(words) > 2 else ""
                yield display, CodeLoad(directive.number, f"filter {words[1]}", CODE_FILTERS[words[1]], target)
