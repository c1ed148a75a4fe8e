"""Policy `daemonset-rolling-update`: DaemonSets surge when they can, and never surge on host ports.

With maxSurge 1 / maxUnavailable 0 the new pod on a node is ready before the old one stops. A pod using
hostPort or hostNetwork cannot surge (both pods would bind the same node port): there the rollout must use
maxSurge 0 / maxUnavailable 1, and relies on the preStop wait. `OnDelete` never rolls the pods at all.
"""

from __future__ import annotations

from typing import Any

from haproxy_guard.policies.model.findings import Severity, Violation
from haproxy_guard.policies.model.rollout import is_zero, min_ready_violation, raise_min_ready, rolling_update
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.workload import Workload
from haproxy_guard.policies.policy import Policy

POLICY_ID = "daemonset-rolling-update"
_POINTER = "/spec/updateStrategy/rollingUpdate"


def uses_host_ports(workload: Workload) -> bool:
    if workload.pod_spec.get("hostNetwork") is True:
        return True
    containers: Any = workload.pod_spec.get("containers", [])
    return any(
        isinstance(port, dict) and port.get("hostPort")
        for container in containers
        if isinstance(container, dict)
        for port in (container.get("ports") or [])
    )


def _params(workload: Workload) -> tuple[str, dict[str, Any]]:
    strategy = workload.spec.get("updateStrategy")
    strategy = strategy if isinstance(strategy, dict) else {}
    params = strategy.get("rollingUpdate")
    return str(strategy.get("type", "RollingUpdate")), params if isinstance(params, dict) else {}


def check(workload: Workload, settings: Settings) -> list[Violation]:
    violations = []
    strategy_type, params = _params(workload)
    max_surge, max_unavailable = params.get("maxSurge", 0), params.get("maxUnavailable", 1)
    if strategy_type == "OnDelete":
        violations.append(
            Violation(
                "updateStrategy OnDelete never replaces running HAProxy pods: configuration and image changes "
                "wait for manual deletes; use RollingUpdate",
                "/spec/updateStrategy/type",
            )
        )
    elif uses_host_ports(workload):
        if not is_zero(max_surge):
            violations.append(
                Violation(
                    f"maxSurge is {max_surge!r} but the pods use hostPort or hostNetwork: the surge pod cannot "
                    "bind the node's port and the rollout stalls; use maxSurge 0 with maxUnavailable 1",
                    f"{_POINTER}/maxSurge",
                )
            )
    elif is_zero(max_surge) or not is_zero(max_unavailable):
        violations.append(
            Violation(
                f"maxSurge {max_surge!r} / maxUnavailable {max_unavailable!r}: each node's HAProxy stops before "
                "its replacement is ready; use maxSurge 1 with maxUnavailable 0",
                _POINTER,
            )
        )
    min_ready = min_ready_violation(workload, settings)
    return [*violations, min_ready] if min_ready else violations


def fix(workload: Workload, settings: Settings) -> bool:
    changed = raise_min_ready(workload, settings)
    strategy_type, current = _params(workload)
    if strategy_type != "RollingUpdate":
        return changed
    if uses_host_ports(workload):
        wanted = {"maxSurge": 0, "maxUnavailable": 1} if not is_zero(current.get("maxSurge", 0)) else {}
    elif is_zero(current.get("maxSurge", 0)) or not is_zero(current.get("maxUnavailable", 1)):
        wanted = {"maxSurge": 1, "maxUnavailable": 0}
    else:
        wanted = {}
    if not wanted:
        return changed
    params = rolling_update(workload, "updateStrategy")
    assert params is not None
    params.update(wanted)
    workload.spec["updateStrategy"]["type"] = "RollingUpdate"
    return True


POLICY: Policy = Policy(
    id=POLICY_ID,
    summary="DaemonSets surge (maxSurge 1, maxUnavailable 0) unless host ports forbid it; OnDelete is reported",
    default_severity=Severity.WARN,
    kinds=frozenset({"DaemonSet"}),
    check=check,
    fix=fix,
    reason=(
        "The default (maxUnavailable 1, no surge) leaves a node without HAProxy during each replacement; surge "
        "is impossible with hostPort/hostNetwork"
    ),
)
