"""Outcome counts of the real-world corpus per branch, filled by `test_corpus_real_world` and printed at the
end of the test run (see `tests/conftest.py`), so CI's output carries the figures README quotes."""

from __future__ import annotations

import re
from collections import Counter

COUNTS: dict[str, Counter[str]] = {}
OUTCOMES = (
    "raw accepts, accepted",
    "raw refuses, refused",
    "raw refuses, accepted: a file the pod mounts",
    "raw refuses, accepted: a name the pod resolves",
    "raw refuses, accepted: other",
    "refused: loads code",
    "FALSE REJECTION",
)
_MISSING_FILE = re.compile(
    r"No such file|cannot open|error opening|unable to stat|failed to open|Couldn't open|unable to load|invalid args in converter 'map'"
)
_UNRESOLVED = re.compile(r"invalid address|could not resolve|[Cc]an't resolve|unknown host")


def refusal_class(raw_output: str) -> str:
    """Why raw `haproxy -c` refused what haproxy-guard accepts, from raw's first alert."""
    alerts = [line for line in raw_output.splitlines() if "[ALERT]" in line] or [raw_output]
    if _MISSING_FILE.search(alerts[0]):
        return "raw refuses, accepted: a file the pod mounts"
    if _UNRESOLVED.search(alerts[0]):
        return "raw refuses, accepted: a name the pod resolves"
    return "raw refuses, accepted: other"


def summary_lines() -> list[str]:
    if not COUNTS:
        return []
    lines = ["real-world corpus, configurations per outcome and branch:"]
    branches = sorted(COUNTS)
    lines.append(f"  {'outcome':48}" + "".join(f"{branch:>7}" for branch in branches))
    for outcome in OUTCOMES:
        lines.append(f"  {outcome:48}" + "".join(f"{COUNTS[branch][outcome]:>7}" for branch in branches))
    return lines
