"""HAProxy time values (`timeout client 30s`, `hard-stop-after 1m`): milliseconds by default."""

from __future__ import annotations

import re

_TIME = re.compile(r"^(\d+)(us|ms|s|m|h|d)?$")
_UNITS_MS = {"us": 0.001, "ms": 1.0, None: 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0, "d": 86_400_000.0}


def parse_milliseconds(text: str) -> float | None:
    """Milliseconds for an HAProxy time value, or None when it is not one."""
    match = _TIME.match(text.strip())
    if match is None:
        return None
    return int(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_seconds(text: str) -> float | None:
    milliseconds = parse_milliseconds(text)
    return None if milliseconds is None else milliseconds / 1000.0
