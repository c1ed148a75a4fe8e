"""Policy `haproxy-config-source`: the ConfigMaps a workload mounts could be read.

When neither the API server (webhook) nor the input documents (CLI) provide a mounted ConfigMap, the
config-aware policies cannot run for it; this says so instead of guessing.
"""

from __future__ import annotations

from haproxy_guard.policies.model.findings import Severity, Violation
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.workload import Workload
from haproxy_guard.policies.policy import ALL_WORKLOAD_KINDS, Policy

POLICY_ID = "haproxy-config-source"


def check(workload: Workload, settings: Settings) -> list[Violation]:
    return [
        Violation(
            f"ConfigMap {name} mounted by an HAProxy container could not be read: the configuration checks "
            "(validity, memory, threads, hard-stop-after, config-hash) were skipped for it",
            f"{workload.pod_spec_pointer}/volumes",
        )
        for name in workload.unavailable_configs
    ]


POLICY: Policy = Policy(
    id=POLICY_ID,
    summary="Mounted ConfigMaps can be read, so the configuration checks can run",
    default_severity=Severity.WARN,
    kinds=ALL_WORKLOAD_KINDS,
    check=check,
    fix=None,
    reason="A check that could not run must say so rather than pass silently",
)
