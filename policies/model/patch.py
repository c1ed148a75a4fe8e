"""Copies of JSON objects, and RFC 6902 patches made by diffing an object with its fixed copy (never by hand).

Dicts are compared key by key, lists of equal length index by index; anything else that differs is
replaced whole. About 30 times faster than `jsonpatch.make_patch` on a Deployment, which matters on the
admission hot path; the tests apply every patch with the `jsonpatch` library to prove equivalence.
"""

from __future__ import annotations

from typing import Any

Operation = dict[str, Any]


def json_copy(value: Any) -> Any:
    """A deep copy of JSON data (dicts, lists, scalars): about 3 times faster than `copy.deepcopy`."""
    kind = type(value)
    if kind is dict:
        return {key: json_copy(item) for key, item in value.items()}
    if kind is list:
        return [json_copy(item) for item in value]
    return value


_TOKENS: dict[str, str] = {}
_MAX_TOKENS = 4096  # keys come from admitted objects: a bounded memo


def _token(key: str) -> str:
    """`/key`, escaped (RFC 6901); the keys of Kubernetes objects repeat, so they are made once."""
    token = _TOKENS.get(key)
    if token is None:
        token = "/" + key.replace("~", "~0").replace("/", "~1") if "~" in key or "/" in key else "/" + key
        if len(_TOKENS) < _MAX_TOKENS:
            _TOKENS[key] = token
    return token


def _identical(old: Any, new: Any) -> bool:
    return old is new or (type(old) is type(new) and old == new)


def diff(old: Any, new: Any, pointer: str = "") -> list[Operation]:
    """Operations that turn `old` into `new`, in an order valid to apply one after another."""
    if _identical(old, new):
        return []
    operations: list[Operation] = []
    _diff_into(operations, old, new, pointer)
    return operations


def _diff_into(operations: list[Operation], old: Any, new: Any, pointer: str) -> None:
    """Append the operations for two values already known to differ (equal subtrees are skipped inline, with
    `_identical` written out: this runs for every key on the path to each change, on every admission)."""
    kind = type(old)
    if kind is dict and type(new) is dict:
        if not new.keys() >= old.keys():
            operations.extend({"op": "remove", "path": pointer + _token(key)} for key in old if key not in new)
        for key, value in new.items():
            if key not in old:
                operations.append({"op": "add", "path": pointer + _token(key), "value": value})
                continue
            previous = old[key]
            if previous is not value and (type(previous) is not type(value) or previous != value):
                _diff_into(operations, previous, value, pointer + _token(key))
    elif kind is list and type(new) is list and len(old) == len(new):
        for index, (previous, value) in enumerate(zip(old, new, strict=True)):
            if previous is not value and (type(previous) is not type(value) or previous != value):
                _diff_into(operations, previous, value, f"{pointer}/{index}")
    else:
        operations.append({"op": "replace", "path": pointer, "value": new})
