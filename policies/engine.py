"""The one engine behind the webhook, `audit` and `mutate`: check an object, or fix a copy of it.

`check` reports findings on the object as given. `mutate` applies every enabled policy's fix, in
registry order, to a deep copy and returns it with the JSON patch from the original. Objects that are not
HAProxy workloads come back untouched without being copied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from policies.findings import Finding, Severity
from policies.patch import Operation, diff
from policies.policy import Policy
from policies.registry import POLICIES, SKIP_POLICY
from policies.settings import Settings
from policies.workload import Object, Workload, inspect_workload


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The findings on one object. `workload` is None when the object is not an HAProxy workload."""

    workload: Workload | None
    findings: tuple[Finding, ...] = ()
    skipped: bool = False

    @property
    def denied(self) -> tuple[Finding, ...]:
        return tuple(finding for finding in self.findings if finding.severity is Severity.DENY)

    @property
    def warned(self) -> tuple[Finding, ...]:
        return tuple(finding for finding in self.findings if finding.severity is Severity.WARN)


@dataclass(frozen=True)
class Mutation:
    """A fixed copy of an object, which policies changed it, and the skip finding if it opted out."""

    original: Object
    mutated: Object
    changed_by: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = field(default=())

    @cached_property
    def patch(self) -> list[Operation]:
        return diff(self.original, self.mutated) if self.changed_by else []


def _findings(workload: Workload, policy: Policy, settings: Settings) -> tuple[Finding, ...]:
    severity = settings.severity(policy.id, policy.default_severity)
    if severity is Severity.OFF or not policy.applies_to(workload):
        return ()
    return tuple(
        Finding(
            policy=policy.id,
            severity=severity,
            kind=workload.kind,
            namespace=workload.namespace,
            name=workload.name,
            message=violation.message,
            path=violation.path,
        )
        for violation in policy.check(workload, settings)
    )


def _skip_findings(workload: Workload, settings: Settings) -> tuple[bool, tuple[Finding, ...]]:
    """Whether the object opted out, and the (possibly silenced) finding that reports it."""
    violations = SKIP_POLICY.check(workload, settings)
    return bool(violations), _findings(workload, SKIP_POLICY, settings) if violations else ()


def check(
    obj: Object,
    settings: Settings,
    *,
    namespace: str | None = None,
    policies: Sequence[Policy] = POLICIES,
) -> Evaluation:
    """Findings of every enabled policy on `obj` as it is."""
    workload = inspect_workload(obj, settings.image_patterns, namespace)
    if workload is None:
        return Evaluation(None)
    skipped, skip_findings = _skip_findings(workload, settings)
    if skipped:
        return Evaluation(workload, skip_findings, skipped=True)
    return Evaluation(workload, tuple(f for policy in policies for f in _findings(workload, policy, settings)))


def mutate(
    obj: Object,
    settings: Settings,
    *,
    namespace: str | None = None,
    operation: str = "CREATE",
    policies: Sequence[Policy] = POLICIES,
) -> Mutation:
    """A copy of `obj` with every enabled fix applied; `obj` itself is never modified (see `writable_copy`).

    Pods are only fixed on CREATE: the API server forbids changing a running pod's lifecycle or probes.
    """
    workload = inspect_workload(obj, settings.image_patterns, namespace)
    if workload is None:
        return Mutation(obj, obj)
    skipped, skip_findings = _skip_findings(workload, settings)
    if skipped or (workload.kind == "Pod" and operation != "CREATE"):
        return Mutation(obj, obj, findings=skip_findings)
    target = workload.writable_copy()
    changed_by = tuple(
        policy.id
        for policy in policies
        if policy.fix is not None
        and policy.applies_to(target)
        and settings.severity(policy.id, policy.default_severity) is not Severity.OFF
        and policy.fix(target, settings)
    )
    return Mutation(obj, target.obj if changed_by else obj, changed_by)
