"""Policy `statefulset-rollout`: StatefulSets roll automatically and wait minReadySeconds between pods.

`OnDelete` never replaces running pods, so configuration changes wait for manual deletes (reported, not
fixed: it is a deliberate choice for some operators).
"""

from __future__ import annotations

from haproxy_guard.policies.model.findings import Severity, Violation
from haproxy_guard.policies.model.rollout import min_ready_violation, raise_min_ready
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.workload import Workload
from haproxy_guard.policies.policy import Policy

POLICY_ID = "statefulset-rollout"


def check(workload: Workload, settings: Settings) -> list[Violation]:
    violations = []
    strategy = workload.spec.get("updateStrategy")
    if isinstance(strategy, dict) and strategy.get("type") == "OnDelete":
        violations.append(
            Violation(
                "updateStrategy OnDelete never replaces running HAProxy pods: configuration and image changes "
                "wait for manual deletes; use RollingUpdate",
                "/spec/updateStrategy/type",
            )
        )
    min_ready = min_ready_violation(workload, settings)
    return [*violations, min_ready] if min_ready else violations


def fix(workload: Workload, settings: Settings) -> bool:
    return raise_min_ready(workload, settings)


POLICY: Policy = Policy(
    id=POLICY_ID,
    summary="StatefulSets use RollingUpdate and minReadySeconds >= minReadySeconds",
    default_severity=Severity.WARN,
    kinds=frozenset({"StatefulSet"}),
    check=check,
    fix=fix,
    reason="OnDelete leaves old configuration running; without minReadySeconds pods are replaced faster than load balancers notice",
)
