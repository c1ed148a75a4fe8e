"""`once`: a zero-argument method computed once per instance, frozen dataclasses included."""

from __future__ import annotations

from dataclasses import dataclass, field

from haproxy_guard.policies.memo import once


@dataclass(frozen=True)
class Counted:
    name: str
    calls: list[str] = field(default_factory=list, compare=False)

    @once
    def value(self) -> str:
        self.calls.append(self.name)
        return self.name.upper()


def test_computed_once_per_instance_and_kept_apart() -> None:
    first, second = Counted("a"), Counted("b")
    assert [first.value(), first.value(), second.value(), first.value()] == ["A", "A", "B", "A"]
    assert first.calls == ["a"] and second.calls == ["b"]
    assert first == Counted("a"), "the memo is not a field: equality ignores it"
