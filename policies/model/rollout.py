"""Helpers shared by the rollout policies: int-or-percent values and `minReadySeconds`."""

from __future__ import annotations

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
