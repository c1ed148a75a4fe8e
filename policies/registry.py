"""The ordered list of policies. Order matters for fixes: the grace period reads the preStop wait."""

from __future__ import annotations

from haproxy_guard.policies.policy import Policy
from haproxy_guard.policies.rules import (
    config_hash,
    daemonset_rolling_update,
    deployment_recreate,
    deployment_rolling_update,
    haproxy_config_source,
    haproxy_config_valid,
    haproxy_dns_resolvers,
    haproxy_hard_stop_after,
    haproxy_health_endpoint,
    haproxy_idle_close,
    haproxy_maxconn,
    haproxy_memory_limit,
    haproxy_nbthread_cpu,
    haproxy_stop_signal,
    haproxy_timeouts,
    liveness_shallow,
    pod_disruption_budget,
    prestop_wait,
    readiness_probe,
    single_replica,
    skip_annotation,
    statefulset_rollout,
    termination_grace_period,
)

SKIP_POLICY: Policy = skip_annotation.POLICY

POLICIES: tuple[Policy, ...] = (
    prestop_wait.POLICY,
    haproxy_stop_signal.POLICY,
    termination_grace_period.POLICY,
    readiness_probe.POLICY,
    liveness_shallow.POLICY,
    deployment_recreate.POLICY,
    deployment_rolling_update.POLICY,
    daemonset_rolling_update.POLICY,
    statefulset_rollout.POLICY,
    pod_disruption_budget.POLICY,
    single_replica.POLICY,
    haproxy_config_valid.POLICY,
    haproxy_config_source.POLICY,
    haproxy_maxconn.POLICY,
    haproxy_timeouts.POLICY,
    haproxy_idle_close.POLICY,
    haproxy_dns_resolvers.POLICY,
    haproxy_health_endpoint.POLICY,
    haproxy_hard_stop_after.POLICY,
    haproxy_memory_limit.POLICY,
    haproxy_nbthread_cpu.POLICY,
    config_hash.POLICY,
)

ALL_POLICIES: tuple[Policy, ...] = (SKIP_POLICY, *POLICIES)
POLICY_IDS: frozenset[str] = frozenset(policy.id for policy in ALL_POLICIES)


def policy_by_id(policy_id: str) -> Policy:
    for policy in ALL_POLICIES:
        if policy.id == policy_id:
            return policy
    raise KeyError(policy_id)
