"""`lexer` and `directives` decode lines as HAProxy does: checked on fixed cases and differentially against
the real binaries (HAProxy names the first word it read in "unknown keyword '...'", and prints the
argument of `.notice` as it decoded it)."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from haproxy_guard.policies.haproxy.directives import code_loads, directives, evaluate_condition
from haproxy_guard.policies.haproxy.lexer import LineError, parse_line
from haproxy_guard.policies.haproxy.validator import discover_binaries, launch_command

BINARIES = discover_binaries()
ENV = {"X": "a b", "EMPTY": "", "K": "lua-load"}


@pytest.mark.parametrize(
    ("line", "words"),
    [
        pytest.param(r"lua-lo\x61d x", ("lua-load", "x"), id="hex-escape"),
        pytest.param(r'"lua-load" x', ("lua-load", "x"), id="double-quoted"),
        pytest.param(r"'lua-load' x", ("lua-load", "x"), id="single-quoted"),
        pytest.param(r"lua'-'load x", ("lua-load", "x"), id="quotes-inside-a-word"),
        pytest.param(r'"$K" x', ("lua-load", "x"), id="unbraced-variable"),
        pytest.param(r'"${K}" x', ("lua-load", "x"), id="braced-variable"),
        pytest.param(r"$K x", ("$K", "x"), id="variable-outside-quotes-is-literal"),
        pytest.param(r'"${X[*]}" y', ("a", "b", "y"), id="word-expansion"),
        pytest.param(r'"${NOPE[*]}" y', ("y",), id="empty-word-expansion-makes-no-argument"),
        pytest.param(r'a "${NOPE}" y', ("a", "", "y"), id="undefined-variable-still-an-argument"),
        pytest.param(r'a "" y', ("a", "", "y"), id="empty-quotes-an-argument"),
        pytest.param(r'"${NOPE-lua-load}" y', ("lua-load", "y"), id="default-value"),
        pytest.param(r"a\ b c", ("a b", "c"), id="escaped-space"),
        pytest.param("a\fb\vc", ("a", "b", "c"), id="form-feed-and-vertical-tab-separate"),
        pytest.param("a\u2028b", ("a\u2028b",), id="unicode-line-separator-is-not-a-blank"),
        pytest.param(r"a#b c", ("a",), id="comment-inside-a-word"),
        pytest.param(r"a\#b c", ("a#b", "c"), id="escaped-comment"),
        pytest.param(r"'a\x41'", (r"a\x41",), id="no-escapes-in-single-quotes"),
        pytest.param(r"^/api/\(v1", (r"^/api/\(v1",), id="unknown-escape-kept"),
        pytest.param(r"lua-load\x00ignored x", ("lua-load", "x"), id="decoded-nul-ends-the-word"),
        pytest.param('"a\\$K"', ("a$K",), id="escaped-dollar-in-double-quotes"),
    ],
)
def test_words(line: str, words: tuple[str, ...]) -> None:
    assert parse_line(line, ENV).words == words


@pytest.mark.parametrize("line", [r"a\xZZ", '"open', "'open", r'"${X"', r'"$1"', r'"${.NOPE}"', r'"${X[1]}"'])
def test_lines_haproxy_refuses(line: str) -> None:
    with pytest.raises(LineError):
        parse_line(line, ENV)


def test_haproxy_variables_are_unknown_not_empty() -> None:
    args = parse_line('"${HAPROXY_LOCALPEER}" x', {})
    assert args.unknown == {"HAPROXY_LOCALPEER"} and args.unknown_words == {0}


@pytest.mark.parametrize(
    ("condition", "value"),
    [
        ("1", True),
        ("0", False),
        ("", False),  # HAProxy: an empty condition is false
        ("010", True),
        ("08", None),  # strtol stops after the 0: HAProxy refuses the 8
        ("0x1f && -0", False),
        ("defined(X)", True),
        ("defined(NOPE)", False),
        ("!defined(NOPE)", True),
        ("! ! defined(X)", True),
        ("streq(a,a) && defined(X)", True),
        ("defined(NOPE) || 1", True),
        ("(0 || 0) && 1", False),
        ("( 1 )", True),
        ("version_atleast(2.4)", True),
        ("version_before(2.8)", False),
        ("version_atleast(2.8.5)", None),
        ("feature(LUA)", None),
        ("feature(LUA) && 0", False),
        ("fips_mode && 0", None),
        ("defined(HAPROXY_LOCALPEER)", None),
        ("strneq(a, a)", None),  # HAProxy keeps the blank: " a" (the checker once stripped it)
        ("!streq(a,\\a)", None),  # a backslash inside arguments has make_arg_list's meaning
        ('streq("a","a")', None),  # so do quotes (parse_line has removed the line's own)
        ("defined (X)", None),
        ("1 1", None),
        ("(" * 100 + "1" + ")" * 100, None),
        ("1\v", None),  # a blank strtol skips and HAProxy's reader does not
    ],
)
def test_conditions(condition: str, value: bool | None) -> None:
    assert evaluate_condition(condition, ENV, "2.8") is value


def test_an_if_line_is_re_merged_with_its_nuls_as_spaces() -> None:
    """HAProxy turns every decoded NUL of an `.if` line into a space when it re-merges the words: `0\\x00||\\x001`
    is `0 || 1` (true), not the words `0` and `1`."""
    text = "global\n.if 0\\x00||\\x001\n  lua-load /x.lua\n.endif\n"
    assert [load.keyword for _, load in code_loads((("h.cfg", text),), ENV, "2.8")] == ["lua-load"]
    assert parse_line(".if 0\\x00||\\x001", ENV).merged() == "0 || 1"


def test_the_environment_decides_exactly() -> None:
    """`defined()` sees the environment it is given and nothing else: the validator gives it the checked
    process's own (its stand-ins and SSL_CERT_DIR included)."""
    text = "global\n.if defined(SSL_CERT_DIR)\n  lua-load /x.lua\n.endif\n"
    assert list(code_loads((("h.cfg", text),), {}, "2.8")) == []
    assert len(list(code_loads((("h.cfg", text),), {"SSL_CERT_DIR": "/none"}, "2.8"))) == 1


def test_blocks_and_environment_follow_haproxy() -> None:
    text = """global
.if defined(NOPE)
  setenv HIDDEN 1
  lua-load /never
.elif defined(X)
  setenv SEEN 1
.else
  ssl-engine never
.endif
.if feature(LUA)
  lua-load /maybe
.endif
"""
    env = dict(ENV)
    found = [(d.args.words[0], d.certain) for d in directives(text, env, "2.8")]
    assert found == [("global", True), ("setenv", True), ("lua-load", False)]
    assert "SEEN" in env and "HIDDEN" not in env
    loads = [load.keyword for _, load in code_loads((("h.cfg", text),), ENV, "2.8")]
    assert loads == ["lua-load"], "a directive in an undecidable block is still refused"


def test_code_loads_across_files_share_the_environment() -> None:
    first = "global\n  setenv K2 ssl-provider\n"
    second = 'global\n  "$K2" x\n'
    loads = list(code_loads((("a.cfg", first), ("b.cfg", second)), {}, "2.8"))
    assert [(name, load.number, load.keyword) for name, load in loads] == [("b.cfg", 2, "ssl-provider")]


# -- differential: the real HAProxy --------------------------------------------------------------------

PIECES = [
    "a", "Z", "-", ".", "/", "0", r"\x41", r"\x2f", r"\\", r"\ ", r"\#", r"\'", r"\"", r"\$", r"\t", r"\q",
    '"', "'", "$X", "${X}", "${EMPTY}", "${NOPE}", "${NOPE-d}", "${X[*]}", " ", "\t", "\f", "#", "$", "{", "}",
]  # fmt: skip


def _haproxy_reads(binary: str, lines: list[str]) -> dict[int, str]:
    """Line number -> what HAProxy printed for it (the `.notice` argument, or the unknown keyword)."""
    text = "global\n" + "".join(line + "\n" for line in lines)
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "t.cfg"
        config.write_text(text)
        output = subprocess.run(
            [*launch_command(binary), "-c", "-f", str(config)],
            capture_output=True,
            text=True,
            env=ENV,  # the same environment the lexer is given (`setenv X ""` is an error from 3.0)
            timeout=30,
            check=False,
        )
    found: dict[int, str] = {}
    for line in (output.stdout + output.stderr).split("\n"):  # not splitlines(): a form feed is text here
        match = re.search(r"\[[^\]]*:(\d+)\]\s*:?\s*(.*)$", line)
        if match and "is empty and marks the end of the argument list" not in line:  # 3.2's extra warning
            found.setdefault(int(match.group(1)), match.group(2))
    return found


def _parses(line: str) -> bool:
    try:
        parse_line(line, ENV)
    except LineError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.parametrize("version", sorted(BINARIES))
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.sampled_from(PIECES), min_size=1, max_size=8).map("".join), min_size=20, max_size=20))
@example(expressions=['"" a', 'a "" b', '"" "" a', 'a b ""', '""', "a", "a b"])  # a CI run found the first
def test_first_word_and_notice_argument_match_haproxy(version: str, expressions: list[str]) -> None:
    """Lines the lexer reads are read the same by HAProxy; lines it refuses, HAProxy refuses too. The two
    kinds run apart: from 3.0 a line HAProxy cannot split stops the run before any keyword is looked up."""
    lines = [line for expression in expressions for line in (f"zz{expression}", f".notice {expression}")]
    good = [line for line in lines if _parses(line)]
    bad = [line for line in lines if not _parses(line)]
    # at most 50 fatal errors are reported per run: 20 expressions make at most 40
    seen = _haproxy_reads(BINARIES[version], good)
    for index, line in enumerate(good):
        words = parse_line(line, ENV).words
        if version not in {"2.6", "2.8"} and "" in words[1:]:  # from 3.0 an empty argument ends the list
            words = words[: words.index("", 1) + 1]
        message = seen.get(2 + index, "")
        if "${NOPE" in line:
            continue  # some branches join the next word onto a quoted unset variable (3.2: `zz"${NOPE}" a` is
            # 'zza'); the validator never meets one: unset variables get stand-in values before `haproxy -c`
        if line.startswith("zz"):
            if "'" in words[0] or "\n" in words[0] or "\t" in words[0]:
                continue  # not recoverable from the quoted message
            if "" in words[1:]:
                continue  # an empty argument: 3.4 refuses the line for it before looking the keyword up
            assert f"unknown keyword '{words[0]}'" in message, (line, words, message)
        else:
            # `.notice` refuses a non-empty third word (`*args[2]`) on every branch, even where an empty word
            # before it ends the argument list for every other keyword (3.2 warns so, then refuses anyway)
            words = parse_line(line, ENV).words
            if len(words) < 2:
                continue  # no argument at all
            if len(words) > 2 and words[2]:
                assert "Unexpected argument" in message, (line, words, message)
            elif "'" not in words[1]:
                assert message.endswith(f"'{words[1]}'."), (line, words, message)
    if bad:
        refused = _haproxy_reads(BINARIES[version], bad)
        assert sorted(refused) == list(range(2, 2 + len(bad))), (bad, refused)
