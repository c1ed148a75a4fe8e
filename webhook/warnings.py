"""Warnings in an admission reply, fitted to what the API server passes on whole.

The API server (k8s.io/apiserver, `filters/warning.go`) collects the warnings of every admission webhook and
plugin of one request into one recorder: it drops exact duplicates, counts the text's runes (Unicode code
points), and as long as all of them together stay within 4,096 runes it passes every warning on whole. The
first warning that would pass that total makes it cut *every* warning of the request to 256 runes. A warning
holding a control character (a newline, a tab) is dropped silently (`NewWarningHeader`).

So each of our replies keeps whole warnings within `BUDGET_RUNES` (our two webhooks together stay under the
API server's total, with room left for other plugins such as Pod Security's), replaces control characters,
and when the findings do not fit, ends with one warning that names the policies left out and where every
finding is listed. A single finding longer than the whole budget is the only one cut. When every finding fits
with its policy's page (`policies.documentation.page`), each carries it: where space allows, as links go.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence

from haproxy_guard.policies.documentation import page
from haproxy_guard.policies.model.findings import Finding
from haproxy_guard.policies.registry import POLICY_IDS

API_SERVER_TOTAL_RUNES = 4096
BUDGET_RUNES = 1536
"""Per reply: the mutating and the validating webhook together use at most 3,072 of the API server's 4,096, and
leave 1,024 to other admission plugins of the same request (a Pod Security warning on an HAProxy pod template
is about 400-500)."""
_MAX_NAMED_POLICIES = 8


def warning_text(finding: Finding) -> str:
    """A finding as one warning: `[policy-id] message`, whole, printable."""
    return printable(f"[{finding.policy}] {finding.message}")


def printable(text: str) -> str:
    """`text` with each control character (which makes the API server drop the whole warning) as `\\uXXXX`."""
    if text.isprintable():
        return text
    return "".join(f"\\u{ord(c):04x}" if unicodedata.category(c) == "Cc" else c for c in text)


def _policy(text: str) -> str:
    return text[1 : text.index("]")] if text.startswith("[") and "]" in text else "haproxy-guard"


def _summary(left_out: Sequence[str]) -> str:
    policies = list(dict.fromkeys(_policy(text) for text in left_out))
    named = ", ".join(policies[:_MAX_NAMED_POLICIES]) + (", ..." if len(policies) > _MAX_NAMED_POLICIES else "")
    count = len(left_out)
    return (
        f"[haproxy-guard] {count} more finding{'s' if count > 1 else ''} not shown ({named}): the API server "
        "passes 4 KiB of warnings per request; `haproxy-guard audit` (or the audit log's findings annotation "
        "on the validating webhook) lists every one"
    )


def _with_page(text: str) -> str:
    """A finding's warning followed by its policy's page (once: a reply's warnings may be fitted again)."""
    policy = _policy(text)
    if policy not in POLICY_IDS or page(policy) in text:
        return text
    return f"{text} (see {page(policy)})"


def _cut(text: str, runes: int) -> str:
    return text if len(text) <= runes else text[: max(0, runes - 1)] + "…"


def fit(texts: Iterable[str], budget: int = BUDGET_RUNES) -> list[str]:
    """The warnings to send: `texts` deduplicated, in order, whole while they fit `budget` (runes, counted as
    the API server counts them), then one summary of the rest; never more than `budget` runes together."""
    unique = list(dict.fromkeys(printable(text) for text in texts if text))
    if sum(len(text) for text in unique) <= budget:
        linked = [_with_page(text) for text in unique]
        return linked if sum(len(text) for text in linked) <= budget else unique
    kept: list[str] = []
    used = 0
    for position, text in enumerate(unique):
        rest = unique[position + 1 :]
        tail = len(_summary(rest)) if rest else 0
        if used + len(text) + tail <= budget:
            kept.append(text)
            used += len(text)
            continue
        if kept:  # the summary of everything from here fits: the previous step made sure of it
            return [*kept, _cut(_summary(unique[position:]), budget - used)]
        # the first finding alone is longer than the budget: the only case where a finding is cut
        first = _cut(text, budget - tail)
        return [first, _cut(_summary(rest), budget - len(first))] if rest else [first]
    return kept
