"""The diff-based JSON patch, checked by applying it with the `jsonpatch` library."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from haproxy_guard.policies.model import patch as patch_module
from haproxy_guard.policies.model.patch import diff
from tests.helpers import apply_patch


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param({"a": 1}, {"a": 1}, id="equal"),
        pytest.param({"a": 1}, {"a": 2}, id="replace-scalar"),
        pytest.param({"a": 1}, {"a": 1, "b": {"c": [1]}}, id="add-subtree"),
        pytest.param({"a": 1, "b": 2}, {"b": 2}, id="remove-key"),
        pytest.param({"l": [1, 2, 3]}, {"l": [1, 5, 3]}, id="list-by-index"),
        pytest.param({"l": [1, 2]}, {"l": [1, 2, 3]}, id="list-grows"),
        pytest.param({"l": [{"x": 1}]}, {"l": [{"x": 1, "y": 2}]}, id="dict-in-list"),
        pytest.param({"a/b": 1, "c~d": 2}, {"a/b": 3, "c~d": 4, "e/~f": 5}, id="pointer-escaping"),
        pytest.param({"a": 1}, {"a": True}, id="int-to-bool"),
        pytest.param({"a": {"b": 1}}, {"a": [1]}, id="type-change"),
        pytest.param({"t": {"type": "A", "x": 1}}, {"t": {"x": 1}}, id="remove-nested"),
    ],
)
def test_diff_applies_to_the_new_object(old: dict[str, Any], new: dict[str, Any]) -> None:
    patch = diff(old, new)
    assert apply_patch(old, patch) == new
    assert (patch == []) == (old == new and old.get("a") is not True)


def test_equal_objects_give_no_operations() -> None:
    obj = {"spec": {"template": {"spec": {"containers": [{"name": "haproxy"}]}}}}
    assert diff(obj, {"spec": {"template": {"spec": {"containers": [{"name": "haproxy"}]}}}}) == []


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["", "a", "a/b", "c~d", "~1", "/"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "b/c", "d~e", "f"]), children, max_size=3)
    ),
    max_leaves=10,
)


@given(_JSON, _JSON)
def test_any_diff_applied_with_jsonpatch_gives_the_new_value(old: Any, new: Any) -> None:
    # the hot path's fast equality tests must never skip a difference nor emit one for equal values (equal as
    # Python compares: 1 == True inside a list is not seen, as before; the shapes keep what fixes write typed)
    patch = diff({"root": old}, {"root": new})
    assert apply_patch({"root": old}, patch) == {"root": new}
    if old == new and type(old) is type(new) and repr(old) == repr(new):
        assert patch == []


def test_pointer_tokens_are_made_once_per_key_and_the_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(patch_module, "_TOKENS", {})
    monkeypatch.setattr(patch_module, "_MAX_TOKENS", 3)
    old = {f"k{index}/~": index for index in range(10)}
    new = {key: value + 1 for key, value in old.items()}
    expected = [{"op": "replace", "path": f"/k{index}~1~0", "value": index + 1} for index in range(10)]
    assert diff(old, new) == expected
    assert diff(old, new) == expected  # from the memo where it holds the key
    assert patch_module._TOKENS == {"k0/~": "/k0~1~0", "k1/~": "/k1~1~0", "k2/~": "/k2~1~0"}
