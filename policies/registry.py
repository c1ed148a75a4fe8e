"""The ordered list of policies. Order matters for fixes: the grace period reads the preStop wait."""

from __future__ import annotations

from policies import (
    config_hash,
    config_health,
    config_idle_close,
    config_maxconn,
    config_resolvers,
    config_source,
    config_timeouts,
    config_valid,
    cpu_threads,
    daemonset_rolling_update,
    deployment_recreate,
    deployment_rolling_update,
    disruption_budget,
    grace_period,
    hard_stop_after,
    liveness,
    memory_limit,
    prestop,
    readiness,
    skip,
    statefulset_rollout,
)
from policies.policy import Policy

SKIP_POLICY: Policy = skip.POLICY

POLICIES: tuple[Policy, ...] = (
    prestop.POLICY,
    grace_period.POLICY,
    readiness.POLICY,
    liveness.POLICY,
    deployment_recreate.POLICY,
    deployment_rolling_update.POLICY,
    daemonset_rolling_update.POLICY,
    statefulset_rollout.POLICY,
    disruption_budget.POLICY,
    config_valid.POLICY,
    config_source.POLICY,
    config_maxconn.POLICY,
    config_timeouts.POLICY,
    config_idle_close.POLICY,
    config_resolvers.POLICY,
    config_health.POLICY,
    hard_stop_after.POLICY,
    memory_limit.POLICY,
    cpu_threads.POLICY,
    config_hash.POLICY,
)

ALL_POLICIES: tuple[Policy, ...] = (SKIP_POLICY, *POLICIES)
POLICY_IDS: frozenset[str] = frozenset(policy.id for policy in ALL_POLICIES)


def policy_by_id(policy_id: str) -> Policy:
    for policy in ALL_POLICIES:
        if policy.id == policy_id:
            return policy
    raise KeyError(policy_id)
