"""Policy `skip-annotation`: `haproxy-guard.io/skip: "true"` opts an object out, and is always reported.

Applies to HAProxy workloads and ConfigMaps. The engine evaluates it first: when it fires, no other policy runs and nothing is mutated. Its severity
is configurable like any other: `off` hides skips, `deny` forbids opting out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from haproxy_guard.policies.model.findings import Severity, Violation, json_pointer
from haproxy_guard.policies.model.objects import SKIP_ANNOTATION
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.workload import Workload
from haproxy_guard.policies.policy import ALL_WORKLOAD_KINDS, Policy

if TYPE_CHECKING:
    from haproxy_guard.policies.model.configmap import ConfigSubject

POLICY_ID = "skip-annotation"


def is_skipped(annotations: dict[str, str]) -> bool:
    return annotations.get(SKIP_ANNOTATION, "").strip().lower() == "true"


def violation() -> Violation:
    return Violation(
        f'{SKIP_ANNOTATION}: "true": haproxy-guard neither changes nor denies this object',
        json_pointer("metadata", "annotations", SKIP_ANNOTATION),
    )


def check(workload: Workload, settings: Settings) -> list[Violation]:
    return [violation()] if is_skipped(workload.annotations) else []


def check_configmap(subject: ConfigSubject, settings: Settings) -> list[Violation]:
    return [violation()] if is_skipped(subject.configmap.annotations) else []


POLICY: Policy = Policy(
    id=POLICY_ID,
    summary='haproxy-guard.io/skip: "true" opts the object out of every other policy; the skip is reported',
    default_severity=Severity.WARN,
    kinds=ALL_WORKLOAD_KINDS,
    check=check,
    fix=None,
    reason="Opt-outs must stay visible; set it to deny to forbid them, or off to hide them",
    check_configmap=check_configmap,
)
