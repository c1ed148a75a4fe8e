"""The directives HAProxy will act on, as it reads them: decoded lines (see `lexer`), `.if` blocks evaluated,
`setenv`/`presetenv`/`unsetenv`/`resetenv` applied in order, and the code-loading directives found.

The `.if` evaluation is three-valued: a condition the check cannot decide (an unknown predicate, a version
finer than the branch, a variable HAProxy sets itself) counts as possibly true, so a directive in such a
block is still seen. This errs towards refusing, never towards running code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
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


_VERSION = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?")


def _compare_version(branch: str | None, wanted: str) -> int | None:
    """-1/0/1 comparing the branch (X.Y) with `wanted`; None when the branch alone cannot tell."""
    match = _VERSION.match(wanted.strip())
    if branch is None or match is None:
        return None
    have = tuple(int(part) for part in branch.split(".")[:2])
    want_major, want_minor = int(match.group(1)), int(match.group(2) or 0)
    if have != (want_major, want_minor):
        return -1 if have < (want_major, want_minor) else 1
    return 0 if match.group(3) is None or int(match.group(3)) == 0 else None


class _Condition:
    """A recursive-descent reader of `.if` expressions: `!`, `&&`, `||`, parentheses, numbers, predicates."""

    def __init__(self, text: str, env: Mapping[str, str], version: str | None) -> None:
        self.text, self.index, self.env, self.version = text, 0, env, version

    def _blank(self) -> None:
        while self.index < len(self.text) and self.text[self.index] in " \t":
            self.index += 1

    def expression(self) -> Tri:
        value = self._and()
        while self._take("||"):
            right = self._and()
            value = True if value is True or right is True else (None if value is None or right is None else False)
        return value

    def _and(self) -> Tri:
        value = self._term()
        while self._take("&&"):
            right = self._term()
            value = False if value is False or right is False else (None if value is None or right is None else True)
        return value

    def _take(self, token: str) -> bool:
        self._blank()
        if self.text.startswith(token, self.index):
            self.index += len(token)
            return True
        return False

    def _term(self) -> Tri:
        self._blank()
        negate = False
        while self._take("!"):
            negate = not negate
        value = self._positive_term()
        return (not value) if (negate and value is not None) else value

    def _positive_term(self) -> Tri:
        self._blank()
        number = re.compile(r"[-+]?(0[xX][0-9a-fA-F]+|\d+)").match(self.text, self.index)
        if number:
            self.index = number.end()
            return int(number.group(0), 0) != 0
        if self._take("("):
            value = self.expression()
            if not self._take(")"):
                raise LineError("expected ')'")
            return value
        name = re.compile(r"[a-z_]+").match(self.text, self.index)
        if not name:
            raise LineError("unparsable conditional expression")
        self.index = name.end()
        arguments = self._arguments() if self.text.startswith("(", self.index) else []
        return self._predicate(name.group(0), arguments)

    def _arguments(self) -> list[str]:
        """Comma-separated arguments up to the closing parenthesis (quotes group, backslash escapes)."""
        self.index += 1
        arguments, current, quote = [], [], ""
        while self.index < len(self.text):
            char = self.text[self.index]
            self.index += 1
            if quote:
                if char == quote:
                    quote = ""
                elif char == "\\" and self.index < len(self.text):
                    current.append(self.text[self.index])
                    self.index += 1
                else:
                    current.append(char)
            elif char in "'\"":
                quote = char
            elif char == "\\" and self.index < len(self.text):
                current.append(self.text[self.index])
                self.index += 1
            elif char == ",":
                arguments.append("".join(current).strip())
                current = []
            elif char == ")":
                arguments.append("".join(current).strip())
                return [] if arguments == [""] else arguments
            else:
                current.append(char)
        raise LineError("missing ')' after predicate arguments")

    def _predicate(self, name: str, arguments: list[str]) -> Tri:
        if name == "defined" and len(arguments) == 1:
            if arguments[0] in self.env:
                return True
            return None if arguments[0].startswith("HAPROXY_") else False
        if name in {"streq", "strneq", "strstr"} and len(arguments) == 2:
            first, second = arguments
            if name == "streq":
                return first == second
            if name == "strneq":
                return first != second
            return second in first
        if name in {"version_atleast", "version_before"} and len(arguments) == 1:
            compared = _compare_version(self.version, arguments[0])
            if compared is None:
                return None
            return compared >= 0 if name == "version_atleast" else compared < 0
        return None  # feature(), enabled(), SSL library predicates...: not knowable here


def evaluate_condition(words: tuple[str, ...], env: Mapping[str, str], version: str | None) -> Tri:
    """The value of a `.if`/`.elif` condition (its words, re-joined by spaces as HAProxy does)."""
    condition = _Condition(" ".join(words), env, version)
    try:
        value = condition.expression()
        condition._blank()
        return value if condition.index == len(condition.text) else None
    except LineError:
        return None  # HAProxy would refuse the line; for what we look for, undecidable


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
            value = evaluate_condition(args.words[1:], environment, version) if active is not False else False
            state = False if active is False else _and(active, value)
            stack.append(_Block(state, state, active))
            continue
        if keyword in {".elif", ".else"} and stack:
            block = stack[-1]
            value = True if keyword == ".else" else evaluate_condition(args.words[1:], environment, version)
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
                yield display, CodeLoad(directive.number, keyword, CODE_DIRECTIVES[keyword])
            elif keyword == "filter" and len(words) > 1 and words[1] in CODE_FILTERS:
                yield display, CodeLoad(directive.number, f"filter {words[1]}", CODE_FILTERS[words[1]])
