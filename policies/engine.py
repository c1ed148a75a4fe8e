"""The one engine behind the webhook, `audit` and `mutate`: check an object, or fix a copy of it.

`check` reports findings on the object as given: HAProxy workloads (with the ConfigMaps they mount and the
PDBs around them, from the `Context`) and HAProxy ConfigMaps (validated by the context's validator). `mutate` applies every enabled
policy's fix, in registry order, to a copy of a workload and returns it with the JSON patch from the
original. Objects that are neither come back untouched without being copied.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from haproxy_guard.policies.context import EMPTY_CONTEXT, Context
from haproxy_guard.policies.model.configmap import ConfigSubject, HAProxyConfigMap, inspect_configmap
from haproxy_guard.policies.model.findings import Finding, Severity, Violation
from haproxy_guard.policies.model.mounts import attach_configs, preferred_branch
from haproxy_guard.policies.model.objects import Object
from haproxy_guard.policies.model.patch import Operation, diff
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.workload import Workload, inspect_workload
from haproxy_guard.policies.policy import Fix, Policy
from haproxy_guard.policies.registry import POLICIES, SKIP_POLICY
from haproxy_guard.policies.rules.haproxy_config_valid import POLICY_ID as CONFIG_VALID
from haproxy_guard.policies.rules.skip_annotation import is_skipped
from haproxy_guard.policies.rules.skip_annotation import violation as skip_violation

Subject = Workload | HAProxyConfigMap
_Check = TypeVar("_Check")


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The findings on one object. `subject` is None when the object is nothing haproxy-guard checks."""

    subject: Subject | None
    findings: tuple[Finding, ...] = ()
    skipped: bool = False
    notes: tuple[str, ...] = ()
    """What the reader should know beside the findings (which advice applies to a static Pod)."""

    @property
    def workload(self) -> Workload | None:
        return self.subject if isinstance(self.subject, Workload) else None

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

    @property
    def patch(self) -> list[Operation]:
        """The RFC 6902 patch from `original` to `mutated`, made on each access (the webhook asks once; a
        `cached_property` took a lock shared by every Mutation on Python 3.11)."""
        return diff(self.original, self.mutated) if self.changed_by else []


def _as_findings(
    subject: Subject, policy: Policy, severity: Severity, violations: list[Violation]
) -> tuple[Finding, ...]:
    return tuple(
        Finding(
            policy.id,
            Severity.WARN if violation.advisory else severity,
            subject.kind,
            subject.namespace,
            subject.name,
            violation.message,
            violation.path,
        )
        for violation in violations
    )


Checks = tuple[tuple[Policy, Severity], ...]
Fixers = tuple[tuple[str, Fix], ...]
_ENABLED: dict[tuple[int, str, int], tuple[Settings, Sequence[Policy], Checks, Fixers]] = {}


def _enabled(settings: Settings, kind: str, policies: Sequence[Policy]) -> tuple[Checks, Fixers]:
    """The policies enabled for objects of `kind`, in order: each with its effective severity, and those with
    a fix (only workloads are fixed). Cached per settings object (the webhook keeps one for its lifetime, so
    the hot path skips 20 severity lookups)."""
    key = (id(settings), kind, id(policies))
    cached = _ENABLED.get(key)
    if cached is not None and cached[0] is settings and cached[1] is policies:
        return cached[2], cached[3]
    checks = tuple(
        (policy, severity)
        for policy in policies
        if policy.covers(kind)  # a workload kind: the policy has a check; ConfigMap: a ConfigMap check
        and (severity := settings.severity(policy.id, policy.default_severity)) is not Severity.OFF
    )
    fixers = tuple((policy.id, policy.fix) for policy, _ in checks if policy.fix is not None)
    if len(_ENABLED) > 256:
        _ENABLED.clear()
    _ENABLED[key] = (settings, policies, checks, fixers)
    return checks, fixers


def _skip_findings(subject: Subject, settings: Settings) -> tuple[bool, tuple[Finding, ...]]:
    """Whether the object opted out, and the (possibly silenced) finding that reports it."""
    if not is_skipped(subject.annotations):
        return False, ()
    severity = settings.severity(SKIP_POLICY.id, SKIP_POLICY.default_severity)
    if severity is Severity.OFF:
        return True, ()
    return True, _as_findings(subject, SKIP_POLICY, severity, [skip_violation()])


def _attach(workload: Workload, context: Context) -> Workload:
    """The workload with what the context knows around it: mounted ConfigMaps and PDBs."""
    workload = attach_configs(workload, context.configmaps, context.validator, context.services)
    if context.pdbs is not None and workload.kind in {"Deployment", "StatefulSet"}:
        pdbs = context.pdbs(workload.namespace)
        if pdbs is not None:
            workload = workload.evolve(pdbs=tuple(pdbs))
    if context.autoscalers is not None and workload.kind in {"Deployment", "StatefulSet"}:
        autoscaler = context.autoscalers(workload.namespace, workload.kind, workload.name)
        spec = autoscaler.get("spec") if autoscaler is not None else None
        most = spec.get("maxReplicas") if isinstance(spec, dict) else None
        least = spec.get("minReplicas", 1) if isinstance(spec, dict) else None
        if isinstance(most, int) and not isinstance(most, bool) and most > 0:
            least = least if isinstance(least, int) and not isinstance(least, bool) else 1
            workload = workload.evolve(max_replicas=most, min_replicas=least)
    return workload


def _present(check: _Check | None) -> _Check:
    assert check is not None  # `_enabled` lists only the policies with a check for the kind
    return check


def _evaluate(subject: Subject, checks: Checks, violations_of: Callable[[Policy], list[Violation]]) -> Evaluation:
    """The findings of the enabled policies (`checks`, in order) on `subject`."""
    findings: list[Finding] = []
    for policy, severity in checks:
        violations = violations_of(policy)
        if violations:
            findings.extend(_as_findings(subject, policy, severity, violations))
    return Evaluation(subject, tuple(findings))


STATIC_POD_EXEMPT = frozenset(
    {"prestop-wait", "termination-grace-period", "readiness-probe", "haproxy-stop-signal", "haproxy-hard-stop-after"}
)
"""Policies about draining a pod behind a Service and rolling it through the API: no Service endpoint drains
from a static Pod and nothing rolls it through the API, so they do not apply."""
STATIC_POD_NOTE = (
    "static Pod manifest (host network, in kube-system or configured from a host path): the kubelet runs it from "
    "a file on each node, so preStop, grace-period, readiness and stop-signal advice does not apply (no Service "
    "endpoint drains from it); the other findings are advice for that file, never denials, and mutate leaves it "
    "unchanged"
)


def _static_pod(workload: Workload, checks: Checks, settings: Settings) -> Evaluation:
    """A static Pod's findings: the policies that still apply, at most warnings, and the note saying so."""
    kept = tuple((policy, Severity.WARN) for policy, _ in checks if policy.id not in STATIC_POD_EXEMPT)
    evaluation = _evaluate(workload, kept, lambda policy: _present(policy.check)(workload, settings))
    return dataclasses.replace(evaluation, notes=(STATIC_POD_NOTE,))


def check(
    obj: Object,
    settings: Settings,
    *,
    namespace: str | None = None,
    policies: Sequence[Policy] = POLICIES,
    context: Context = EMPTY_CONTEXT,
    configmap: HAProxyConfigMap | None = None,
) -> Evaluation:
    """Findings of every enabled policy on `obj` as it is. `configmap`: `inspect_configmap(obj, namespace)`,
    when the caller has it already (the webhook, which looked at it to know whether the check may block)."""
    workload = inspect_workload(obj, settings.image_patterns, namespace)
    if workload is not None:
        skipped, skip_findings = _skip_findings(workload, settings)
        if skipped:
            return Evaluation(workload, skip_findings, skipped=True)
        workload = _attach(workload, context)
        checks = _enabled(settings, workload.kind, policies)[0]
        if workload.static_pod:
            return _static_pod(workload, checks, settings)
        return _evaluate(workload, checks, lambda policy: _present(policy.check)(workload, settings))
    configmap = configmap or inspect_configmap(obj, namespace)
    if configmap is None:
        return Evaluation(None)
    skipped, skip_findings = _skip_findings(configmap, settings)
    if skipped:
        return Evaluation(configmap, skip_findings, skipped=True)
    subject = configmap_subject(configmap, context)
    checks = _enabled(settings, configmap.kind, policies)[0]
    return _evaluate(configmap, checks, lambda policy: _present(policy.check_configmap)(subject, settings))


def configmap_subject(configmap: HAProxyConfigMap, context: Context) -> ConfigSubject:
    """A ConfigMap as `check` judges it on its own: its declared version, else its pods' branch first (the
    audit starts the same check ahead of the evaluation)."""
    return ConfigSubject(
        configmap,
        context.validator,
        version=configmap.version,
        services=context.services,
        prefer=preferred_branch(configmap, context.mounters),
    )


def opted_out(subject: Subject) -> bool:
    """Whether the object's annotations skip every policy (`check` then judges nothing)."""
    return is_skipped(subject.annotations)


def validates(settings: Settings, policies: Sequence[Policy] = POLICIES) -> bool:
    """Whether an enabled policy runs `haproxy -c` (only `haproxy-config-valid` reads a validation): the audit
    starts checks ahead of the evaluations only then."""
    return any(policy.id == CONFIG_VALID for policy, _ in _enabled(settings, "ConfigMap", policies)[0])


def mutate(
    obj: Object,
    settings: Settings,
    *,
    namespace: str | None = None,
    operation: str = "CREATE",
    policies: Sequence[Policy] = POLICIES,
    context: Context = EMPTY_CONTEXT,
) -> Mutation:
    """A copy of `obj` with every enabled fix applied; `obj` itself is never modified (see `writable_copy`).

    Pods are only fixed on CREATE: the API server forbids changing a running pod's lifecycle or probes.
    """
    workload = inspect_workload(obj, settings.image_patterns, namespace)
    if workload is None:
        return Mutation(obj, obj)
    skipped, skip_findings = _skip_findings(workload, settings)
    if skipped or workload.static_pod or (workload.kind == "Pod" and operation != "CREATE"):
        return Mutation(obj, obj, findings=skip_findings)
    target = _attach(workload, context).writable_copy()
    changed_by = tuple(
        policy_id for policy_id, fix in _enabled(settings, target.kind, policies)[1] if fix(target, settings)
    )
    return Mutation(obj, target.obj if changed_by else obj, changed_by)
