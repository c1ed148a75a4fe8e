"""The restorer of HAProxy's messages (sandbox paths back to the names the user wrote, the sandbox never
shown) finds what one regular expression over the message found, without compiling one per check; and,
unlike that expression, never leaves the sandbox's root inside a restored path (`ROOT/a/ROOT`)."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from haproxy_guard.policies.haproxy.render import Sandbox
from haproxy_guard.policies.haproxy.validator import _PATH_TAIL, _Restorer

ROOT = "/tmp/haproxy-guard-ab12_x9z"
SANDBOX = Sandbox(
    Path(ROOT),
    config_names={"haproxy.cfg": "haproxy.cfg", "10-extra.cfg": "conf.d/10-extra.cfg"},
    replacements={f"{ROOT}/files/0": "/etc/haproxy/certs/site.pem", f"{ROOT}/empty": ""},
)
PIECES = (
    ROOT, f"{ROOT}/", f"{ROOT}/haproxy.cfg", f"{ROOT}/10-extra.cfg", f"{ROOT}/files/0", f"{ROOT}/empty",
    f"{ROOT}/files/0:12", f"{ROOT}/other dir", f"{ROOT}{ROOT}", f"{ROOT}x", "/tmp/haproxy-guard-ab12_x9", "/",
    "'", '"', "[", "]", ":", ",", "(", ")", " ", "\n", "\t", "a", "parsing [", "] : ", "line 3", "é", "~",
)  # fmt: skip


def reference(restorer: _Restorer, text: str) -> str:
    """The former implementation: one pattern compiled for the root of each check."""
    pattern = re.compile(re.escape(restorer.root) + "(" + _PATH_TAIL.pattern + ")?")

    def replace(match: re.Match[str]) -> str:
        path = match.group(0)
        if path in restorer.names:
            return restorer.names[path]
        return (match.group(1) or "/").lstrip("/") or "."

    return pattern.sub(replace, text)


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(PIECES) | st.text(max_size=4), max_size=12).map("".join))
@example(f"[ALERT] parsing [{ROOT}/haproxy.cfg:3] : unknown keyword")
@example(f"unable to load '{ROOT}/files/0' and '{ROOT}/files/1'")
@example(f"{ROOT}/empty{ROOT}")
def test_the_restorer_finds_what_the_regular_expression_finds(text: str) -> None:
    restorer = _Restorer(SANDBOX)
    restored = restorer(text)
    former = reference(restorer, text)
    if ROOT not in former:
        assert restored == former
    assert ROOT not in restored, "the sandbox is never shown"


def test_known_messages_read_as_the_user_wrote_them() -> None:
    restorer = _Restorer(SANDBOX)
    assert restorer(f"parsing [{ROOT}/10-extra.cfg:7] : x") == "parsing [conf.d/10-extra.cfg:7] : x"
    assert restorer(f"cannot open '{ROOT}/files/0'") == "cannot open '/etc/haproxy/certs/site.pem'"
    assert restorer(f"in {ROOT}/maps/a.map, {ROOT}") == "in maps/a.map, ."
    assert restorer(f"{ROOT}/empty{ROOT}/haproxy.cfg") == "emptyhaproxy.cfg"  # a second pass
