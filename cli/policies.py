"""`haproxy-guard policies` (the registry as a table) and `haproxy-guard explain POLICY-ID` (one policy's
documentation, `policies.documentation`): the same text as the site's policy pages."""

from __future__ import annotations

import difflib

from haproxy_guard.policies.documentation import DOCS_URL, explain
from haproxy_guard.policies.registry import ALL_POLICIES, POLICY_IDS, policy_by_id


class UnknownPolicyError(Exception):
    """`explain` was given an id no policy has: the message suggests the nearest ones."""


def list_policies() -> str:
    """One line per policy, in the registry's order: id, default severity, summary."""
    width = max(len(policy.id) for policy in ALL_POLICIES)
    lines = [f"{'ID'.ljust(width)}  DEFAULT  SUMMARY"]
    lines += [
        f"{policy.id.ljust(width)}  {str(policy.default_severity).ljust(7)}  {policy.summary}"
        for policy in ALL_POLICIES
    ]
    lines.append(f"\n`haproxy-guard explain POLICY-ID` prints one; every page: {DOCS_URL}policies/")
    return "\n".join(lines) + "\n"


def explain_policy(policy_id: str) -> str:
    """The documentation of `policy_id`, or UnknownPolicyError naming the nearest ids."""
    if policy_id not in POLICY_IDS:
        near = difflib.get_close_matches(policy_id, sorted(POLICY_IDS), n=3)
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        raise UnknownPolicyError(f"no policy {policy_id!r}{hint} (`haproxy-guard policies` lists them)")
    return explain(policy_by_id(policy_id))
