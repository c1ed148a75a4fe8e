"""Policy `pod-disruption-budget`: an HAProxy workload with more than one replica has a PDB selecting it.

Node drains and cluster upgrades evict pods through the eviction API, which only waits for a
PodDisruptionBudget: without one every replica on the drained nodes goes at once. DaemonSets are exempt
(drains skip DaemonSet pods). Checked only when the PDBs of the namespace are known (the CLI's input, the
API server for the webhook).
"""

from __future__ import annotations

from typing import Any

from haproxy_guard.policies.model.findings import Severity, Violation
from haproxy_guard.policies.model.rollout import written_replicas
from haproxy_guard.policies.model.selectors import selects
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.workload import Workload
from haproxy_guard.policies.policy import Policy

POLICY_ID = "pod-disruption-budget"


def _template_labels(workload: Workload) -> dict[str, str]:
    metadata: Any = workload.spec.get("template", {}).get("metadata") or {}
    labels = metadata.get("labels") if isinstance(metadata, dict) else None
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def check(workload: Workload, settings: Settings) -> list[Violation]:
    replicas = written_replicas(workload)
    if workload.pdbs is None or replicas <= 1:
        return []
    labels = _template_labels(workload)
    if any(selects((pdb.get("spec") or {}).get("selector"), labels) for pdb in workload.pdbs):
        return []
    return [
        Violation(
            f"{replicas} replicas and no PodDisruptionBudget selects the pods: a node drain or cluster upgrade "
            "can evict every replica at once; add a PDB (for example maxUnavailable: 1) selecting "
            + (", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "the pod labels"),
            "/spec/replicas",
        )
    ]


POLICY: Policy = Policy(
    id=POLICY_ID,
    summary="Deployments and StatefulSets with more than one replica have a PodDisruptionBudget selecting them",
    default_severity=Severity.WARN,
    kinds=frozenset({"Deployment", "StatefulSet"}),
    check=check,
    fix=None,
    reason="Without a PDB, drains and upgrades may evict every HAProxy replica at the same time",
)
