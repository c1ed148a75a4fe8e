"""HAProxy's own reading of a configuration line, reproduced: what `parse_line()` (src/tools.c) and the
`.if` pre-processor (src/cfgparse.c, src/cfgcond.c) make of the text before any keyword is looked up.

Used where a decision depends on the keyword HAProxy will really see (refusing code-loading directives),
so that `lua-lo\\x61d`, `"lua-load"`, `"${K}"` or a directive hidden in a taken `.if` block cannot slip by.
Rules mirrored, with the options cfgparse passes (env, double and single quotes, backslash, `#`, word
expansion):
- only `\\n` ends a line (and `\\r` or NUL end what is parsed of it); blanks are C `isspace` (space, tab,
  vertical tab, form feed, CR);
- single quotes take everything literally; double quotes allow `\\` escapes and `$` expansion;
- outside single quotes, `\\\\`, `\\ `, `\\t`, `\\n`, `\\r`, `\\#`, `\\'`, `\\"`, `\\xHH` are decoded, `\\$` only
  inside double quotes; any other backslash stays as it is;
- `$NAME` and `${NAME}` expand inside double quotes only; `${NAME-default}`; `"${NAME[*]}"` splits the
  value into words; an undefined variable expands to nothing (an argument made only of it still counts).

Environment lookups go through a mapping, which must be the whole environment the checked process gets;
`HAPROXY_*` variables HAProxy sets itself and the `.LINE`/`.FILE`/`.SECTION` pseudo-variables, when the
mapping lacks them, are reported in `LineArgs.unknown`, so callers can be conservative.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

BLANKS = " \t\n\v\f\r"
_VAR_START = re.compile(r"[A-Za-z_.]")
_VAR_REST = re.compile(r"[A-Za-z0-9_]*")
_HEX = "0123456789abcdefABCDEF"
INTERNAL_VARIABLES = frozenset({".LINE", ".FILE", ".SECTION"})
_SPECIAL = re.compile(r"[\\\"'$#\0\r\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")
"""Characters that need the state machine: escapes, quotes, `$`, `#`, NUL/CR, and whatever `str.split()`
would treat as a blank but HAProxy (C `isspace`) does not."""


class LineError(ValueError):
    """The line would be refused by HAProxy's parser itself (unmatched quote, bad escape...)."""


@dataclass(frozen=True, slots=True)
class LineArgs:
    words: tuple[str, ...]
    unknown: frozenset[str] = frozenset()
    """Variables referenced whose value the environment mapping could not give."""
    expanded_words: frozenset[int] = frozenset()
    """Indexes of words that contain text coming from a variable expansion."""
    unknown_words: frozenset[int] = frozenset()
    """Indexes of words that reference a variable in `unknown`."""
    whole_words: tuple[str, ...] = ()
    """The words with what follows a decoded NUL kept, when a word holds one (else empty): HAProxy's `.if`
    and `.elif` re-merge the whole decoded line, turning every NUL into a space."""

    def merged(self) -> str:
        """The text after the keyword as `.if`/`.elif` see it: the words joined, every NUL a space."""
        return " ".join((self.whole_words or self.words)[1:]).replace("\0", " ")


@dataclass
class _State:
    words: list[str] = field(default_factory=list)
    current: list[str] = field(default_factory=list)
    in_arg: bool = False
    empty_quote: bool = False
    unknown: set[str] = field(default_factory=set)
    expanded: set[int] = field(default_factory=set)
    unknown_words: set[int] = field(default_factory=set)

    def emit(self, text: str, *, from_variable: bool = False) -> None:
        self.current.append(text)
        self.in_arg = True
        self.empty_quote = False
        if from_variable:
            self.expanded.add(len(self.words))

    def end_word(self) -> None:
        if self.in_arg:
            self.words.append("".join(self.current))
            self.current = []
        self.in_arg = False


def parse_line(line: str, env: Mapping[str, str]) -> LineArgs:
    """The arguments HAProxy builds from one line (without its `\\n`)."""
    if not _SPECIAL.search(line):  # the common case: nothing to decode, blanks separate
        return LineArgs(tuple(line.split()))
    state = _State()
    index, size = 0, len(line)
    squote = dquote = False
    while index < size:
        char = line[index]
        if char in "\0\n\r":
            break
        if char == "#" and not squote and not dquote:
            break
        if (char == '"' and not squote) or (char == "'" and not dquote):
            if dquote or squote:
                state.in_arg = state.in_arg or state.empty_quote  # "" makes an (empty) argument
            else:
                state.empty_quote = True
            if char == '"':
                dquote = not dquote
            else:
                squote = not squote
            index += 1
        elif char == "\\" and not squote:
            index = _escape(line, index, dquote, state)
        elif char in BLANKS and not squote and not dquote:
            state.end_word()
            while index < size and line[index] in BLANKS:
                index += 1
        elif char == "$" and dquote:
            index = _variable(line, index + 1, env, state)
        else:
            state.emit(char)
            index += 1
    if squote or dquote:
        raise LineError("unmatched quote")
    state.end_word()
    whole = tuple(state.words)
    words = tuple(word.split("\0", 1)[0] for word in whole)  # C strings: a decoded NUL ends the word
    return LineArgs(
        words,
        frozenset(state.unknown),
        frozenset(state.expanded),
        frozenset(state.unknown_words),
        whole if whole != words else (),
    )


def _escape(line: str, index: int, dquote: bool, state: _State) -> int:
    following = line[index + 1] if index + 1 < len(line) else ""
    simple = {" ": " ", "\\": "\\", "t": "\t", "n": "\n", "r": "\r", "#": "#", "'": "'", '"': '"'}
    if following in simple:
        state.emit(simple[following])
        return index + 2
    if following == "$" and dquote:
        state.emit("$")
        return index + 2
    if following == "x":
        digits = line[index + 2 : index + 4]
        if len(digits) != 2 or any(digit not in _HEX for digit in digits):
            raise LineError("truncated or invalid hexadecimal sequence")
        state.emit(chr(int(digits, 16)))
        return index + 4
    state.emit("\\")
    return index + 1


def _variable(line: str, index: int, env: Mapping[str, str], state: _State) -> int:
    brace = index < len(line) and line[index] == "{"
    if brace:
        index += 1
    if not _VAR_START.match(line, index):
        raise LineError("forbidden first char in environment variable name")
    start = index
    if line[index] == ".":
        index += 1
    index = _VAR_REST.match(line, index).end()  # type: ignore[union-attr]  # matches the empty string
    name = line[start:index]
    if name.startswith(".") and name not in INTERNAL_VARIABLES:
        raise LineError("unsupported internal variable name")
    value = env.get(name)
    if value is None and (name.startswith(".") or name.startswith("HAPROXY_")):
        state.unknown.add(name)
        state.unknown_words.add(len(state.words))
    word_expand = False
    if brace:
        if line.startswith("[", index):
            if not line.startswith("[*]", index):
                raise LineError("wrong word expansion")
            word_expand, index = True, index + 3
        if index < len(line) and line[index] == "-":
            end = line.find("}", index)
            if end < 0:
                raise LineError("unmatched brace in environment variable name")
            if value is None:
                value = line[index + 1 : end]
            index = end
        if index >= len(line) or line[index] != "}":
            raise LineError("unmatched brace in environment variable name")
        index += 1
    if word_expand:
        state.empty_quote = False  # an empty expansion in quotes makes no argument
    if value is None:
        if not word_expand:
            state.in_arg = True  # an undefined variable still counts as an argument
        return index
    if word_expand:
        for part in re.split(f"([{re.escape(BLANKS)}]+)", value):
            if not part:
                continue
            if part[0] in BLANKS:
                state.end_word()
            else:
                state.emit(part, from_variable=True)
    elif value:
        state.emit(value, from_variable=True)
    return index


def physical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(number, line) as HAProxy counts them: only `\\n` separates lines."""
    yield from enumerate(text.split("\n"), start=1)
