"""Per-instance memo for zero-argument methods of immutable objects (a bundle's digest, a ConfigMap's bundle).

No lock, unlike `functools.cached_property` on Python 3.11, whose lock is shared by every instance of the
class: two threads may both compute a value, with the same result, and one of them is kept.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

_Value = TypeVar("_Value")
_MISSING = object()


def once(method: Callable[[Any], _Value]) -> Callable[[Any], _Value]:
    """`method(self)` computed on the first call and kept in the instance's `__dict__` (frozen dataclasses
    included: the memo bypasses `__setattr__`)."""
    slot = f"_once_{method.__name__}"

    @functools.wraps(method)
    def memoized(self: Any) -> _Value:
        value = self.__dict__.get(slot, _MISSING)
        if value is _MISSING:
            value = self.__dict__[slot] = method(self)
        return value  # type: ignore[no-any-return]

    return memoized
