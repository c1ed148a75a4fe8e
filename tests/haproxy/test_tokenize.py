"""The configuration tokenizer's shortcut for lines without quotes, escapes, comments or line ends gives
exactly the tokens of its character loop (the loop is the model of HAProxy's own line reader)."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from haproxy_guard.policies.haproxy.config import _SPECIAL, Token, _tokenize_escaped, tokenize

LINES = st.text(st.sampled_from(" \t\v\f\n\r\0\"'\\#abc:/.$%{}[]é\u00a0\u2028x"), max_size=30)


@settings(max_examples=3000, deadline=None)
@given(LINES | st.text(max_size=30))
@example("  bind :8080 ssl crt /etc/haproxy/site.pem")
@example("\t\v\fserver s1 10.0.0.1:80\f")
@example("a\u00a0b")  # a no-break space is not a blank for HAProxy (C isspace)
def test_the_shortcut_gives_the_loop_s_tokens(raw: str) -> None:
    assert tokenize(raw) == _tokenize_escaped(raw)


def test_plain_lines_take_the_shortcut_and_others_do_not() -> None:
    assert _SPECIAL.search("  timeout client 30s") is None
    for special in ('"', "'", "\\", "#", "\r", "\0"):
        assert _SPECIAL.search(f"bind :80{special}") is not None
    assert tokenize(" a  b\tc") == (Token("a", 1, 2, False), Token("b", 4, 5, False), Token("c", 6, 7, False))
