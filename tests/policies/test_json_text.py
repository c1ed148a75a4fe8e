"""The fast JSON writer gives `json.dumps`'s bytes for every value: reports and audit annotations may be compared
or parsed downstream, so not one byte may change."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from haproxy_guard.policies.model.json_text import standard_json, wire_json

ODD_TEXT = st.sampled_from(["lone \ud800 surrogate", "del \x7f", "caf\u00e9", 'tab\tand \u0001 \\ " /', "\u2028"])
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text() | ODD_TEXT,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8) | ODD_TEXT, children, max_size=4)
    ),
    max_leaves=12,
)


@given(VALUES)
def test_compact_and_indented_text_are_json_dumps_byte_for_byte(value: Any) -> None:
    assert standard_json(value) == json.dumps(value)
    assert standard_json(value, indent=True) == json.dumps(value, indent=2)


def test_each_case_orjson_writes_differently_goes_to_json() -> None:
    for value in ("del \x7f", "caf\u00e9", "lone \ud800", 2**64, {"k": ["\x7f"]}):
        assert standard_json(value) == json.dumps(value)
        assert standard_json(value, indent=True) == json.dumps(value, indent=2)


@given(VALUES)
def test_wire_json_reads_back_as_the_value_even_where_orjson_refuses_it(value: Any) -> None:
    assert json.loads(wire_json(value)) == value


def test_wire_json_is_compact_and_takes_big_integers_and_surrogates() -> None:
    assert wire_json({"a": [1, 2]}) == b'{"a":[1,2]}'
    assert json.loads(wire_json({"n": 2**70, "s": "x\ud800"})) == {"n": 2**70, "s": "x\ud800"}
