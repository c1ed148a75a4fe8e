"""Helpers shared by the rollout policies and the drill: int-or-percent values as the controllers scale them,
the replica count a rollout runs at, and `minReadySeconds`."""

from __future__ import annotations

import math
import re
from typing import Any

from haproxy_guard.policies.model.findings import Violation
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.workload import Workload


def is_zero(value: Any) -> bool:
    """True for an IntOrString that means zero (0, "0", "0%")."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value == 0
    return isinstance(value, str) and value.strip() in {"0", "0%"}


_PERCENT = re.compile(r"^(\d+)%$")


def scaled(value: Any, total: int, *, round_up: bool, default: str) -> int:
    """An IntOrString (`1`, `"25%"`) against `total`, as the controllers compute it (Deployments round
    maxSurge up and maxUnavailable down; DaemonSets round both up)."""
    if value is None:
        value = default
    if isinstance(value, int) and not isinstance(value, bool):
        return max(value, 0)
    match = _PERCENT.match(str(value).strip())
    if match:
        exact = int(match.group(1)) * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    text = str(value).strip()
    return int(text) if text.isdigit() else 0


def written_replicas(workload: Workload) -> int:
    """`spec.replicas` as the API server defaults it (1 when unset or not a number)."""
    written = workload.spec.get("replicas", 1)
    return written if isinstance(written, int) and not isinstance(written, bool) else 1


def replicas_at_most(workload: Workload) -> int:
    """The most replicas a Deployment or StatefulSet runs: `spec.replicas`, or the HorizontalPodAutoscaler's
    maxReplicas when one scales it higher."""
    return max(written_replicas(workload), workload.max_replicas or 0)


def rolling_update(workload: Workload, strategy_key: str) -> dict[str, Any] | None:
    """The `rollingUpdate` parameters (created empty if absent), or None when the strategy is not rolling."""
    strategy = workload.spec.get(strategy_key)
    if strategy is None:
        strategy = workload.spec[strategy_key] = {}
    if not isinstance(strategy, dict) or strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return None
    params = strategy.get("rollingUpdate")
    if not isinstance(params, dict):
        params = strategy["rollingUpdate"] = {}
    return params


def min_ready_violation(workload: Workload, settings: Settings) -> Violation | None:
    current = workload.spec.get("minReadySeconds", 0)
    if isinstance(current, int) and current >= settings.min_ready_seconds:
        return None
    return Violation(
        f"minReadySeconds is {current}, below {settings.min_ready_seconds}: the next old pod stops before load "
        "balancers have started sending traffic to the new one",
        "/spec/minReadySeconds",
    )


def raise_min_ready(workload: Workload, settings: Settings) -> bool:
    if min_ready_violation(workload, settings) is None:
        return False
    workload.spec["minReadySeconds"] = settings.min_ready_seconds
    return True
