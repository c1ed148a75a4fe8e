"""Findings as values: what a policy reports about one object, with its severity and JSON pointer."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Severity(enum.StrEnum):
    """How a policy's findings are acted upon: `deny` refuses (enforce mode), `warn` only reports."""

    DENY = "deny"
    WARN = "warn"
    OFF = "off"


@dataclass(frozen=True, slots=True)
class Violation:
    """What a policy's check returns: a message and where in the object it applies."""

    message: str
    path: str | None = None
    advisory: bool = False
    """Said, never denied, whatever the policy's severity (a check that could not be completed at admission)."""


@dataclass(frozen=True, slots=True)
class Finding:
    """A violation attributed to a policy, a severity and an object."""

    policy: str
    severity: Severity
    kind: str
    namespace: str | None
    name: str
    message: str
    path: str | None

    def as_dict(self) -> dict[str, str | None]:
        return {
            "policy": self.policy,
            "severity": str(self.severity),
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "message": self.message,
            "path": self.path,
        }


def json_pointer(*tokens: str | int) -> str:
    """Build an RFC 6901 pointer from raw tokens (escaping `~` and `/`)."""
    return "".join("/" + str(token).replace("~", "~0").replace("/", "~1") for token in tokens)
