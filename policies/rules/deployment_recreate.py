"""Policy `deployment-recreate`: an HAProxy Deployment must not use the `Recreate` strategy.

Recreate stops every replica before starting the new ones: a full outage on every configuration change.
Not fixed automatically, because Recreate is sometimes chosen on purpose (ReadWriteOnce volumes).
"""

from __future__ import annotations

from haproxy_guard.policies.model.findings import Severity, Violation
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.workload import Workload
from haproxy_guard.policies.policy import Policy

POLICY_ID = "deployment-recreate"


def check(workload: Workload, settings: Settings) -> list[Violation]:
    strategy = workload.spec.get("strategy")
    if isinstance(strategy, dict) and strategy.get("type") == "Recreate":
        return [
            Violation(
                "strategy Recreate stops every HAProxy replica before starting new ones: an outage on every "
                "rollout; use RollingUpdate (maxUnavailable 0, maxSurge 1)",
                "/spec/strategy/type",
            )
        ]
    return []


POLICY: Policy = Policy(
    id=POLICY_ID,
    summary="Deployments do not use the Recreate strategy",
    default_severity=Severity.DENY,
    kinds=frozenset({"Deployment"}),
    check=check,
    fix=None,
    reason="Recreate takes every replica down at once: a full outage per rollout",
)
