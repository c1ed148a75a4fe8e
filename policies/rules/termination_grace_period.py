"""Policy `termination-grace-period`: the grace period covers the preStop wait, the drain and a margin.

The grace period includes the preStop time; when it runs out the kubelet sends SIGKILL and every
connection still draining is cut. The policy only ever raises it.
"""

from __future__ import annotations

from haproxy_guard.policies.model.findings import Severity, Violation
from haproxy_guard.policies.model.lifecycle import (
    KUBERNETES_DEFAULT_GRACE_SECONDS,
    drain_seconds,
    longest_wait,
    required_grace_seconds,
)
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.workload import Workload
from haproxy_guard.policies.policy import ALL_WORKLOAD_KINDS, Policy

POLICY_ID = "termination-grace-period"


def _current(workload: Workload) -> int:
    value = workload.pod_spec.get("terminationGracePeriodSeconds", KUBERNETES_DEFAULT_GRACE_SECONDS)
    return value if isinstance(value, int) else KUBERNETES_DEFAULT_GRACE_SECONDS


def check(workload: Workload, settings: Settings) -> list[Violation]:
    current, required = _current(workload), required_grace_seconds(workload, settings)
    if current >= required:
        return []
    wait, drain = longest_wait(workload, settings), drain_seconds(workload, settings)
    return [
        Violation(
            f"terminationGracePeriodSeconds is {current}, below {required} (preStop wait {wait}s + drain "
            f"{drain}s + margin {settings.grace_margin_seconds}s): SIGKILL would cut connections still draining",
            f"{workload.pod_spec_pointer}/terminationGracePeriodSeconds",
        )
    ]


def fix(workload: Workload, settings: Settings) -> bool:
    required = required_grace_seconds(workload, settings)
    if _current(workload) >= required:
        return False
    workload.pod_spec["terminationGracePeriodSeconds"] = required
    return True


POLICY: Policy = Policy(
    id=POLICY_ID,
    summary="terminationGracePeriodSeconds >= preStop wait + drain time + margin (never lowered)",
    default_severity=Severity.DENY,
    kinds=ALL_WORKLOAD_KINDS,
    check=check,
    fix=fix,
    reason=(
        "The grace period includes preStop; when it ends the kubelet sends SIGKILL and cuts every "
        "connection HAProxy is still draining"
    ),
)
