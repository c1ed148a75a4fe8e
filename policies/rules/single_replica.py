"""Policy `single-replica`: an HAProxy Deployment or StatefulSet runs at least two replicas.

With one replica, every stop of its pod (a node drain, an eviction, a node upgrade, a crash) leaves the Service
without an endpoint: connections are refused until a new pod is ready, whatever the preStop wait and grace
period (the drill's `stop` scenario measures it). A rollout with maxSurge 1 is safe, the rest is not. A
HorizontalPodAutoscaler whose minReplicas is at least two counts. Advice only: one replica is a choice
(a test environment), never a reason to block it.
"""

from __future__ import annotations

from haproxy_guard.policies.model.findings import Severity, Violation
from haproxy_guard.policies.model.rollout import written_replicas
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.workload import Workload
from haproxy_guard.policies.policy import Policy

POLICY_ID = "single-replica"


def check(workload: Workload, settings: Settings) -> list[Violation]:
    if written_replicas(workload) != 1:
        return []
    if workload.min_replicas is not None and workload.min_replicas >= 2:
        return []
    return [
        Violation(
            "1 replica: each stop of its pod (node drain, eviction, node "
            "upgrade) leaves the Service without an endpoint and refuses connections, whatever the preStop wait; "
            "run at least 2 replicas",
            "/spec/replicas",
        )
    ]


POLICY: Policy = Policy(
    id=POLICY_ID,
    summary="HAProxy Deployments and StatefulSets run at least 2 replicas (or an HPA with minReplicas >= 2)",
    default_severity=Severity.WARN,
    kinds=frozenset({"Deployment", "StatefulSet"}),
    check=check,
    fix=None,
    reason="With one replica every pod stop (drain, eviction, upgrade) is an outage that no preStop wait avoids",
)
