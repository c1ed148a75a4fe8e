"""The `.if` model against the real HAProxy of every branch (security issue 27, point 4).

Generated `.if` lines (numbers as strtol reads them, predicates with blanks, backslashes, quotes, commas,
decoded NULs and variables inside their arguments, `!`, `&&`, `||`, parentheses) go through the lexer and the
model; every line the model decides (True or False) is put in one configuration with a `.notice` in each
branch of its block, and the real binary prints which branch it took. Any line where the two differ, or that
HAProxy refuses while the model decided it, fails the test. Lines the model cannot decide are counted as
true by the refusal of code-loading directives, so they need no agreement; the share it decides is asserted
so that the model cannot pass by deciding nothing.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from haproxy_guard.policies.haproxy.directives import evaluate_condition
from haproxy_guard.policies.haproxy.lexer import LineError, parse_line
from haproxy_guard.policies.haproxy.validator import discover_binaries, launch_command

BINARIES = discover_binaries()
ENV = {"X": "1", "EMPTY": "", "SPACED": "a b", "COMMA": "a,b", "SSL_CERT_DIR": "/nonexistent"}
NUMBERS = ["0", "1", "00", "010", "08", "0x", "0x1f", "0X0", "-1", "+0", "-0", "007", "99999999999999999999"]
ARGUMENTS = [
    "a", "A", "a b", " a", "a ", "\\\\a", "\\a", "'a'", '\\"a\\"', "a,b", "\\x00", "a\\x00b", "$X", '"$X"', '"${X}"',
    '"${SPACED}"', '"${COMMA}"', '"${EMPTY}"', "2.6", "2.8", "3.0", "3.4", "3.4.1", "2.8.0", "X", "NOPE", "EMPTY",
    "HAPROXY_LOCALPEER", "SSL_CERT_DIR", "",
]  # fmt: skip
PREDICATES = ["defined", "streq", "strneq", "strstr", "version_atleast", "version_before", "feature"]
OPERATORS = ["&&", "||", " && ", " || ", "\\x00&&\\x00", "\\x00||\\x00", "&", "|"]
BLANKS = ["", " ", "\\t", "\\x00"]


def _predicates() -> st.SearchStrategy[str]:
    arguments = st.lists(st.sampled_from(ARGUMENTS), min_size=1, max_size=2).map(",".join)
    return st.builds(lambda name, blank, args: f"{name}{blank}({args})", st.sampled_from(PREDICATES),
                     st.sampled_from(["", "", "", " "]), arguments)  # fmt: skip


def _terms(depth: int) -> st.SearchStrategy[str]:
    leaf = st.sampled_from(NUMBERS) | _predicates()
    if depth <= 0:
        return st.builds(lambda bangs, term: bangs + term, st.sampled_from(["", "", "!", "! ", "!!"]), leaf)
    inner = _expressions(depth - 1).map(lambda expression: f"({expression})")
    return st.builds(lambda bangs, term: bangs + term, st.sampled_from(["", "", "!", "! "]), leaf | inner)


def _expressions(depth: int) -> st.SearchStrategy[str]:
    return st.builds(
        lambda first, rest: first + "".join(operator + blank + term for operator, blank, term in rest),
        _terms(depth),
        st.lists(st.tuples(st.sampled_from(OPERATORS), st.sampled_from(BLANKS), _terms(depth)), max_size=2),
    )


def _model(condition: str, version: str) -> bool | None:
    try:
        args = parse_line(f".if {condition}", ENV)
    except LineError:
        return None  # HAProxy refuses the line before any condition
    return evaluate_condition(args.merged(), ENV, version)


def _haproxy(binary: str, conditions: list[str]) -> tuple[dict[int, bool], str]:
    """Index -> the branch HAProxy took, and its output."""
    blocks = "".join(f'.if {condition}\n.notice "c{index}=T"\n.else\n.notice "c{index}=F"\n.endif\n'
                     for index, condition in enumerate(conditions))  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "t.cfg"
        config.write_text("global\n" + blocks)
        completed = subprocess.run([*launch_command(binary), "-c", "-f", str(config)], capture_output=True,
                                   text=True, env=ENV, timeout=60, check=False)  # fmt: skip
    output = completed.stdout + completed.stderr
    taken = {int(index): value == "T" for index, value in re.findall(r"c(\d+)=([TF])", output)}
    return taken, output


def _disagreements(version: str, conditions: list[str]) -> list[tuple[str, bool | None, str]]:
    decided = [(condition, value) for condition in conditions if (value := _model(condition, version)) is not None]
    if not decided:
        return []
    taken, output = _haproxy(BINARIES[version], [condition for condition, _ in decided])
    found: list[tuple[str, bool | None, str]] = []
    for index, (condition, value) in enumerate(decided):
        actual = taken.get(index)
        if actual is not value:
            found.append((condition, value, "refused" if actual is None else str(actual)))
            break  # HAProxy stops at the first refused line: what follows was never read
    return found if found or len(taken) == len(decided) else [("?", None, output[-2000:])]


REPORTED = [
    "defined(SSL_CERT_DIR)", "0\\x00||\\x001", "strneq(a, a)", "!streq(a,\\\\a)", "defined(NOPE) || 1",
    "feature(LUA) && 0", "010 && 0x1f", "version_atleast(2.6) && !version_before(2.6)",
]  # fmt: skip


@pytest.mark.parametrize("version", sorted(BINARIES))
def test_the_reported_divergences_agree(version: str) -> None:
    assert _disagreements(version, REPORTED) == []


@pytest.mark.slow
@pytest.mark.parametrize("version", sorted(BINARIES))
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(_expressions(2), min_size=40, max_size=40))
@example(conditions=REPORTED)
def test_the_model_agrees_with_haproxy_wherever_it_decides(version: str, conditions: list[str]) -> None:
    assert _disagreements(version, conditions) == []


def test_the_model_decides_most_plain_conditions() -> None:
    """A model that decided nothing would pass the differential: plain conditions must be decided."""
    plain = ["1", "0", "defined(X)", "!defined(NOPE)", "streq(a,a)", "strstr(abc,b) && 1", "(0 || 1) && !0",
             "version_atleast(2.6)", '"${X}"', "streq($X,$X)"]  # fmt: skip
    decided = [condition for condition in plain if _model(condition, "2.8") is not None]
    assert len(decided) >= len(plain) - 1, decided
