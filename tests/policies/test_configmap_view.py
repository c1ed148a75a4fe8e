"""Which ConfigMaps are HAProxy ones: the early answer for the others (before any value is decoded) is the
answer of decoding everything first, for generated ConfigMaps (keys, labels, text and base64 values)."""

from __future__ import annotations

import base64
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from haproxy_guard.policies.model.configmap import CONFIG_KEY, CONFIG_LABEL, HAProxyConfigMap, _data, inspect_configmap


def decoding_first(obj: dict[str, Any], namespace: str | None) -> HAProxyConfigMap | None:
    """The former order: decode every value, then look for the key or the label (the view itself, once it
    is one, is the function's own)."""
    if obj.get("apiVersion") != "v1" or obj.get("kind") != "ConfigMap":
        return None
    data = _data(obj)
    labels: Any = (obj.get("metadata") or {}).get("labels") or {}
    labelled = isinstance(labels, dict) and labels.get(CONFIG_LABEL) == "true"
    if data is None or not (CONFIG_KEY in data or labelled):
        return None
    view = inspect_configmap(obj, namespace)
    assert view is not None, "an HAProxy ConfigMap once decoded"
    return view


KEYS = st.sampled_from([CONFIG_KEY, "a.cfg", "b.cfg", "other.map", "x", ""])
VALUES: st.SearchStrategy[Any] = st.one_of(
    st.text(max_size=6),
    st.binary(max_size=6).map(lambda raw: base64.b64encode(raw).decode()),
    st.sampled_from(["!!notbase64", "", None, 1, True, [], {}]),
)
MAPPINGS = st.one_of(st.none(), st.dictionaries(KEYS, VALUES, max_size=4), st.sampled_from(["text", [], 0]))
LABELS = st.one_of(
    st.none(), st.sampled_from([{CONFIG_LABEL: "true"}, {CONFIG_LABEL: "false"}, {CONFIG_LABEL: True}, "x", []])
)


@settings(max_examples=2000, deadline=None)
@given(MAPPINGS, MAPPINGS, LABELS, st.sampled_from(["v1", "v2"]), st.sampled_from(["ConfigMap", "Secret"]))
@example({CONFIG_KEY: 1}, {CONFIG_KEY: "!!notbase64"}, None, "v1", "ConfigMap")
@example(None, {CONFIG_KEY: base64.b64encode(b"global\n").decode()}, None, "v1", "ConfigMap")
@example({"a.cfg": "x"}, None, {CONFIG_LABEL: "true"}, "v1", "ConfigMap")
def test_the_early_answer_is_the_decoded_answer(
    data: Any, binary: Any, labels: Any, api_version: str, kind: str
) -> None:
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "c", "namespace": "n"}}
    if labels is not None:
        obj["metadata"]["labels"] = labels
    if data is not None:
        obj["data"] = data
    if binary is not None:
        obj["binaryData"] = binary
    assert inspect_configmap(obj, "hint") == decoding_first(obj, "hint")
