"""What a policy is: a stable id, a default severity, a pure check and an optional fix on a copy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from haproxy_guard.policies.model.findings import Severity, Violation
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.workload import Workload

if TYPE_CHECKING:
    from haproxy_guard.policies.model.configmap import ConfigSubject

Check = Callable[[Workload, Settings], list[Violation]]
ConfigCheck = Callable[["ConfigSubject", Settings], list[Violation]]
Fix = Callable[[Workload, Settings], bool]
"""A fix edits the workload's object in place (always a private copy) and returns whether it changed it.
It must be idempotent: after it ran, `check` finds nothing it can fix and a second run returns False."""


@dataclass(frozen=True, slots=True)
class Policy:
    """One rule. `kinds` limits `check` to some workload kinds; `check_configmap` (optional) checks HAProxy
    ConfigMaps on their own; `reason` is the README's "why" column."""

    id: str
    summary: str
    default_severity: Severity
    kinds: frozenset[str]
    check: Check | None
    fix: Fix | None
    reason: str
    check_configmap: ConfigCheck | None = None

    def covers(self, kind: str) -> bool:
        """Whether the policy checks objects of `kind` (a workload kind, or ConfigMap)."""
        if kind == "ConfigMap":
            return self.check_configmap is not None
        return self.check is not None and kind in self.kinds

    def applies_to(self, workload: Workload) -> bool:
        return self.covers(workload.kind)


ALL_WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Pod"})
CONTROLLER_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet"})
