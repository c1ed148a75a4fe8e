"""Policy `deployment-rolling-update`: surge first (no pod stops before its replacement is ready, maxSurge >= 1)
and wait minReadySeconds.

The API server defaults maxUnavailable to 25% before a webhook sees the object, which removes a quarter of
the serving capacity before any replacement is ready. The Deployment controller rounds a percentage down
against the replica count, so 25% stops nothing at 1-3 replicas: the value is judged as it resolves at the
most replicas the Deployment runs (`spec.replicas`, or its HorizontalPodAutoscaler's maxReplicas).
"""

from __future__ import annotations

from haproxy_guard.policies.model.findings import Severity, Violation
from haproxy_guard.policies.model.rollout import (
    is_zero,
    min_ready_violation,
    raise_min_ready,
    replicas_at_most,
    rolling_update,
    scaled,
)
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.workload import Workload
from haproxy_guard.policies.policy import Policy

POLICY_ID = "deployment-rolling-update"
_POINTER = "/spec/strategy/rollingUpdate"


def _unavailable(workload: Workload, max_unavailable: object) -> bool:
    """Whether maxUnavailable lets a pod stop before its replacement is ready, at the most replicas."""
    return scaled(max_unavailable, replicas_at_most(workload), round_up=False, default="25%") > 0


def check(workload: Workload, settings: Settings) -> list[Violation]:
    violations = []
    strategy = workload.spec.get("strategy")
    params = strategy.get("rollingUpdate") if isinstance(strategy, dict) else None
    rolling = not isinstance(strategy, dict) or strategy.get("type", "RollingUpdate") == "RollingUpdate"
    if rolling:
        params = params if isinstance(params, dict) else {}
        max_unavailable = params.get("maxUnavailable", "25%")
        if _unavailable(workload, max_unavailable):
            replicas = replicas_at_most(workload)
            resolved = scaled(max_unavailable, replicas, round_up=False, default="25%")
            at = "" if isinstance(max_unavailable, int) else f" ({resolved} of {replicas} replicas)"
            violations.append(
                Violation(
                    f"maxUnavailable is {max_unavailable!r}{at}: old HAProxy pods stop before their replacements "
                    "are ready; use 0",
                    f"{_POINTER}/maxUnavailable",
                )
            )
        if is_zero(params.get("maxSurge", "25%")):
            violations.append(
                Violation(
                    "maxSurge is 0: with maxUnavailable 0 a rollout cannot start; use 1",
                    f"{_POINTER}/maxSurge",
                )
            )
    min_ready = min_ready_violation(workload, settings)
    return [*violations, min_ready] if min_ready else violations


def fix(workload: Workload, settings: Settings) -> bool:
    changed = raise_min_ready(workload, settings)
    strategy = workload.spec.get("strategy")
    if strategy is not None and (
        not isinstance(strategy, dict) or strategy.get("type", "RollingUpdate") != "RollingUpdate"
    ):
        return changed
    current = strategy.get("rollingUpdate") if isinstance(strategy, dict) else None
    current = current if isinstance(current, dict) else {}
    wanted: dict[str, int] = {}
    if _unavailable(workload, current.get("maxUnavailable", "25%")):
        wanted["maxUnavailable"] = 0
    if is_zero(current.get("maxSurge", "25%")):
        wanted["maxSurge"] = 1
    if not wanted:
        return changed
    params = rolling_update(workload, "strategy")
    assert params is not None  # a rolling strategy, checked above
    params.update(wanted)
    if workload.spec["strategy"].get("type") is None:
        workload.spec["strategy"]["type"] = "RollingUpdate"
    return True


POLICY: Policy = Policy(
    id=POLICY_ID,
    summary="Deployments roll out surge-first: maxUnavailable 0, maxSurge >= 1, minReadySeconds >= minReadySeconds",
    default_severity=Severity.WARN,
    kinds=frozenset({"Deployment"}),
    check=check,
    fix=fix,
    reason=(
        "The default 25% maxUnavailable stops serving replicas before replacements are ready, and without "
        "minReadySeconds the next pod stops before load balancers use the new one"
    ),
)
