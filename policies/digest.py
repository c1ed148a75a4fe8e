"""An unambiguous encoding of records for digests and cache keys.

A key made by joining fields with a separator is ambiguous as soon as a field may hold the separator: a
ConfigMap value with `\\0C\\0b.cfg\\0` inside once hashed like two keys, and one namespace's ConfigMap
poisoned another's cached verdict. Here each record is a one-byte tag, its number of fields and each field
with its length, so two different sequences of records never encode alike (the encoding is a prefix code).
"""

from __future__ import annotations

from typing import Protocol


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...


def record(hasher: _Hasher, tag: bytes, *fields: bytes | str) -> None:
    """Feed one record to `hasher`: `tag` (one byte), the field count, then each field's length and bytes
    (text as UTF-8, lone surrogates kept, so no text is refused or merged with another)."""
    if len(tag) != 1:
        raise ValueError("a record's tag is one byte")
    hasher.update(tag + b"%d:" % len(fields))
    for field in fields:
        data = field if isinstance(field, bytes) else field.encode("utf-8", "surrogatepass")
        hasher.update(b"%d:" % len(data))
        hasher.update(data)
