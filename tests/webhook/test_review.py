"""The AdmissionReview parser: its fast path (exact JSON types, no model) answers exactly as the pydantic
model it skips, for generated envelopes (every field missing, mistyped or coercible) and odd JSON."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from haproxy_guard.webhook import review as review_module
from haproxy_guard.webhook.review import AdmissionRequest, BadReview, parse_review
from tests.helpers import GOLDEN, load_yaml, review

GOOD = review(load_yaml(GOLDEN / "prestop-wait" / "missing-exec" / "input.yaml"))
FIELDS = (
    ("apiVersion",),
    ("kind",),
    ("request",),
    ("request", "uid"),
    ("request", "kind"),
    ("request", "kind", "group"),
    ("request", "kind", "version"),
    ("request", "kind", "kind"),
    ("request", "operation"),
    ("request", "namespace"),
    ("request", "name"),
    ("request", "object"),
    ("request", "oldObject"),
    ("request", "dryRun"),
)
ODD_VALUES: tuple[Any, ...] = (
    None, "", "x", "CREATE", "UPDATE", "DELETE", "CONNECT", "PATCH", "admission.k8s.io/v1", "AdmissionReview",
    "true", "false", "yes", "off", "1", 0, 1, 2, -1, 1.0, 0.5, 2**70, True, False, [], [1], {}, {"a": 1},
    {"kind": "ConfigMap"}, "u" * 256, "u" * 257, "é" * 256, "\u2028",
)  # fmt: skip
JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)


def outcome(body: bytes) -> tuple[str, Any]:
    try:
        return "parsed", parse_review(body)
    except BadReview as error:
        return "refused", str(error)


def model_outcome(body: bytes) -> tuple[str, Any]:
    """What the parser answers without its fast path: the pydantic model alone."""
    with mock.patch.object(review_module, "_exact_request", return_value=None):
        return outcome(body)


def _set(document: dict[str, Any], path: tuple[str, ...], value: Any, delete: bool) -> None:
    target: Any = document
    for key in path[:-1]:
        if not isinstance(target, dict) or key not in target:
            return
        target = target[key]
    if not isinstance(target, dict):
        return
    if delete:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value


@st.composite
def envelopes(draw: st.DrawFn) -> bytes:
    document = json.loads(json.dumps(GOOD))
    for path in draw(st.lists(st.sampled_from(FIELDS), max_size=4)):
        delete = draw(st.booleans())
        value = draw(st.sampled_from(ODD_VALUES) | JSON_VALUES | st.just(GOOD["request"]["object"]))
        _set(document, path, json.loads(json.dumps(value)), delete)  # a copy: GOOD stays as it is
    return json.dumps(document, ensure_ascii=draw(st.booleans())).encode()


@settings(max_examples=600, deadline=None)
@given(envelopes())
@example(json.dumps(GOOD).encode())
def test_the_fast_path_answers_as_the_model(body: bytes) -> None:
    assert outcome(body) == model_outcome(body)


@settings(max_examples=200, deadline=None)
@given(JSON_VALUES)
@example(-(2**63) - 1)  # orjson reads it as a float (found by this test)
@example(2**64)
@example([2**63 - 1, -(2**63), 2**64 - 1, 10**30, -(10**30), 0.1000000000000000055511151231257827])
def test_any_object_content_is_read_as_the_model_reads_it(content: Any) -> None:
    document = json.loads(json.dumps(GOOD))
    document["request"]["object"]["metadata"]["annotations"] = {"x": json.dumps(content)}
    document["request"]["object"]["extra"] = content
    body = json.dumps(document).encode()
    assert outcome(body) == model_outcome(body)


ODD_JSON = [
    pytest.param(json.dumps(GOOD).replace('"uid"', '"uid": "first", "uid"', 1).encode(), id="duplicate-key"),
    pytest.param(json.dumps(GOOD)[:-1].encode() + b', "extra": 1e400}', id="huge-float"),
    pytest.param(json.dumps(GOOD)[:-1].encode() + b', "extra": NaN}', id="nan-literal"),
    pytest.param(json.dumps(GOOD)[:-1].encode() + b', "extra": "\\ud800"}', id="lone-surrogate"),
    pytest.param(json.dumps(GOOD)[:-1].encode() + b', "extra": 123456789012345678901234567890}', id="big-int"),
    pytest.param(json.dumps(GOOD)[:-1].encode() + b', "extra": -9223372036854775809}', id="below-int64"),
    pytest.param(json.dumps(GOOD)[:-1].encode() + b', "extra": 18446744073709551616}', id="beyond-uint64"),
    pytest.param(b"\xef\xbb\xbf" + json.dumps(GOOD).encode(), id="byte-order-mark"),
    pytest.param(json.dumps(GOOD).encode() + b" \n\t", id="trailing-space"),
    pytest.param(json.dumps(GOOD).encode() + b" {}", id="trailing-value"),
    pytest.param(b"  " + json.dumps(GOOD, indent=4).encode(), id="indented"),
    pytest.param(b'{"request": ' + b"[" * 5000 + b"]" * 5000 + b"}", id="deep"),
    pytest.param(b"[1, 2, 3]", id="array"),
    pytest.param(b"null", id="null"),
    pytest.param(b"\xff\xfe", id="not-utf8"),
]


@pytest.mark.parametrize("body", ODD_JSON)
def test_odd_json_is_read_as_the_model_reads_it(body: bytes) -> None:
    assert outcome(body) == model_outcome(body)


def test_what_api_servers_send_takes_the_fast_path() -> None:
    """Every golden input, as a review for each operation, is parsed without the model (the point of the
    path: the model costs about as much as parsing the JSON)."""
    inputs = sorted(GOLDEN.glob("*/*/input.yaml"))
    assert len(inputs) > 20
    for path in inputs:
        for operation in ("CREATE", "UPDATE", "DELETE"):
            body = json.dumps(review(load_yaml(path), operation=operation)).encode()
            fast = review_module._exact_request(body)
            assert isinstance(fast, AdmissionRequest), path
            assert fast == model_outcome(body)[1], path
