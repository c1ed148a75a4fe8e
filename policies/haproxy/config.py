"""A line-level model of haproxy.cfg: sections, keyword lines with their line numbers and tokens.

Enough to read facts (maxconn, timeouts, health endpoints, servers) and to rewrite arguments in place
while keeping every line number, which is what error messages refer to. HAProxy's own parser remains the
judge of validity: this model never decides that a configuration is invalid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SECTION_KEYWORDS = frozenset(
    {
        "global", "defaults", "frontend", "backend", "listen", "resolvers", "peers", "userlist", "mailers",
        "program", "http-errors", "ring", "cache", "crt-store", "traces", "log-forward", "fcgi-app",
    }
)  # fmt: skip
BLANKS = " \t\v\f"
"""What separates words inside a line (C `isspace` but the line ends: `\n`, and `\r`, which ends it too)."""
PROXY_SECTIONS = frozenset({"defaults", "frontend", "backend", "listen"})


@dataclass(frozen=True, slots=True)
class Token:
    """One argument: its text after unquoting, where it starts and ends in the raw line, whether quoted."""

    text: str
    start: int
    end: int
    double_quoted: bool


@dataclass(frozen=True, slots=True)
class Line:
    number: int
    raw: str
    tokens: tuple[Token, ...]

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(token.text for token in self.tokens)

    @property
    def keyword(self) -> str:
        return self.tokens[0].text if self.tokens else ""


@dataclass
class Section:
    kind: str
    name: str
    line: Line
    lines: list[Line] = field(default_factory=list)

    def find(self, *keyword: str) -> list[Line]:
        """Lines whose first words are `keyword` (e.g. `find("timeout", "client")`)."""
        size = len(keyword)
        return [line for line in self.lines if line.words[:size] == keyword]


@dataclass
class HAProxyConfig:
    sections: list[Section]
    line_count: int

    def of_kind(self, *kinds: str) -> list[Section]:
        return [section for section in self.sections if section.kind in kinds]

    @property
    def global_section(self) -> Section | None:
        found = self.of_kind("global")
        return found[0] if found else None

    def proxy(self, name: str) -> Section | None:
        for section in self.of_kind("frontend", "backend", "listen"):
            if section.name == name:
                return section
        return None


_SPECIAL = re.compile(r"[\"'\\#\r\x00]")
"""A character that makes a line need the full tokenizer: a quote, a backslash, `#`, CR or NUL."""
_PLAIN_WORD = re.compile(f"[^{BLANKS}]+")


def tokenize(raw: str) -> tuple[Token, ...]:
    """Split a line like HAProxy does: blanks (C `isspace`) separate, quotes group, backslash escapes, `#`
    comments, and a CR or NUL ends what is read of the line (a CRLF file reads like an LF one).

    Most lines have none of those but blanks: their words are the runs between blanks, found by a regular
    expression (a generated test proves the same tokens as the character loop, 10 times slower)."""
    if _SPECIAL.search(raw) is None:
        return tuple(Token(word[0], word.start(), word.end(), False) for word in _PLAIN_WORD.finditer(raw))
    return _tokenize_escaped(raw)


def _tokenize_escaped(raw: str) -> tuple[Token, ...]:
    """`tokenize` character by character: quotes, escapes, comments and line ends."""
    tokens: list[Token] = []
    index, size = 0, len(raw)
    while index < size:
        while index < size and raw[index] in BLANKS:
            index += 1
        if index >= size or raw[index] in "#\r\0":
            break
        start, text, double_quoted, quote = index, [], False, ""
        while index < size:
            char = raw[index]
            if char in "\r\0":
                break
            if quote:
                if char == quote:
                    quote = ""
                elif char == "\\" and quote == '"' and index + 1 < size:
                    index += 1
                    text.append(raw[index])
                else:
                    text.append(char)
            elif char in "\"'":
                quote = char
                double_quoted = double_quoted or char == '"'
            elif char == "\\" and index + 1 < size:
                index += 1
                text.append(raw[index])
            elif char in BLANKS or char == "#":
                break
            else:
                text.append(char)
            index += 1
        tokens.append(Token("".join(text), start, index, double_quoted))
    return tuple(tokens)


def parse(text: str) -> HAProxyConfig:
    """Sections and their keyword lines (blank and comment lines are dropped, numbers are kept)."""
    sections: list[Section] = []
    current: Section | None = None
    lines = text.split("\n")  # only LF ends a line, as for HAProxy (not \f, \v, U+2028, NEL...)
    if lines and lines[-1] == "":
        lines.pop()
    for number, raw in enumerate(lines, start=1):
        tokens = tokenize(raw)
        if not tokens:
            continue
        line = Line(number, raw, tokens)
        if line.keyword in SECTION_KEYWORDS:
            current = Section(line.keyword, tokens[1].text if len(tokens) > 1 else "", line)
            sections.append(current)
        elif current is not None:
            current.lines.append(line)
    return HAProxyConfig(sections, len(lines))
