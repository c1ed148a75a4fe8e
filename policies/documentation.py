"""Each policy's documentation: its page on the documentation site and its text (`policies/docs/<id>.md`).

The text is package data, so `haproxy-guard explain POLICY-ID` prints it from an installed wheel too; the site's
policy pages are generated from the same files and the registry (`scripts/docs.py`), and every finding's help
link (SARIF's `helpUri`, the JSON report's `help`) is `page(policy_id)`.

A policy's file starts with a front matter block: `example:` names the golden case (`tests/golden/<id>/<case>`)
its site page shows, which the golden tests run; `settings:` lists the settings keys that tune it. The rest is Markdown: "What it checks", "Why", "The fix" and,
where there is more to know, "Details".
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass

import yaml

from haproxy_guard.policies.policy import Policy

DOCS_URL = "https://haproxy-guard.github.io/haproxy-guard/"
"""The documentation site (built from `docs/` by `make docs`), next to the project's home
(`https://github.com/haproxy-guard/haproxy-guard`, SARIF's `informationUri`)."""


def page(policy_id: str) -> str:
    """The policy's page on the documentation site."""
    return f"{DOCS_URL}policies/{policy_id}/"


@dataclass(frozen=True)
class PolicyDoc:
    """A policy's documentation file: its front matter and its Markdown body."""

    example: str
    settings: tuple[str, ...]
    body: str


def read(policy_id: str) -> PolicyDoc:
    """The documentation of `policy_id` (a registered id: every one has its file, a test checks it)."""
    text = (importlib.resources.files(__package__) / "docs" / f"{policy_id}.md").read_text(encoding="utf-8")
    _, front, body = text.split("---\n", 2)
    meta = yaml.safe_load(front) or {}
    return PolicyDoc(str(meta.get("example", "")), tuple(meta.get("settings") or ()), body.strip() + "\n")


def kinds(policy: Policy) -> list[str]:
    """The kinds of object the policy judges, in a fixed order."""
    order = ("Deployment", "StatefulSet", "DaemonSet", "Pod")
    found = [kind for kind in order if policy.check is not None and kind in policy.kinds]
    return [*found, "ConfigMap"] if policy.check_configmap is not None else found


def explain(policy: Policy) -> str:
    """The text `haproxy-guard explain` prints: the registry's facts, how to change them, then the policy's
    documentation and its page."""
    fix = (
        "applied by the mutating webhook and `haproxy-guard mutate`"
        if policy.fix is not None
        else "none (reported only)"
    )
    facts = [
        f"{policy.id}: {policy.summary}",
        "",
        f"Default severity: {policy.default_severity}",
        f"Applies to:       {', '.join(kinds(policy))}",
        f"Fix:              {fix}",
        f"Change it:        `policies: {{{policy.id}: deny | warn | off}}` in the settings file (--settings)",
        '                  or `haproxy-guard.io/skip: "true"` on one object (reported by skip-annotation)',
    ]
    doc = read(policy.id)
    if doc.settings:
        facts.append(f"Tuned by:         {', '.join(doc.settings)} (settings file; `--settings`)")
    return "\n".join(facts) + "\n\n" + doc.body + f"\nDocumentation: {page(policy.id)}\n"
