"""Policy `haproxy-memory-limit`: HAProxy containers have a memory limit that holds `maxconn` connections.

Limits sized on idle usage (about 6 MiB) OOM-kill HAProxy at the first spike, because buffers are
allocated per connection on demand. The estimate and its assumptions are in `policies.haproxy.memory`.
"""

from __future__ import annotations

from haproxy_guard.policies.haproxy.memory import estimate
from haproxy_guard.policies.model.findings import Severity, Violation
from haproxy_guard.policies.model.quantities import format_bytes, parse_quantity
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.workload import Workload
from haproxy_guard.policies.model.workload_config import configs_of, limit
from haproxy_guard.policies.policy import ALL_WORKLOAD_KINDS, Policy

POLICY_ID = "haproxy-memory-limit"


def check(workload: Workload, settings: Settings) -> list[Violation]:
    violations = []
    for ref in workload.haproxy_containers:
        memory = parse_quantity(limit(ref, "memory"))
        if memory is None:
            violations.append(
                Violation(
                    f"container {ref.name} has no memory limit: HAProxy's memory grows with connections and "
                    "can starve the node; set a limit sized for maxconn",
                    f"{ref.pointer}/resources/limits/memory",
                )
            )
            continue
        for mounted in configs_of(workload, ref):
            needed = estimate(mounted.configmap.facts, settings.memory_base_mib, settings.memory_reload_factor)
            if needed is not None and memory < needed.bytes_needed:
                violations.append(
                    Violation(
                        f"container {ref.name} memory limit {format_bytes(int(memory))} is below the "
                        f"{format_bytes(needed.bytes_needed)} that maxconn {needed.maxconn} needs at peak "
                        f"({needed.per_connection // 1024} KiB per connection, ConfigMap {mounted.configmap.name}); "
                        "raise the limit or lower maxconn",
                        f"{ref.pointer}/resources/limits/memory",
                    )
                )
    return violations


POLICY: Policy = Policy(
    id=POLICY_ID,
    summary="HAProxy containers have a memory limit at least the estimate for maxconn connections",
    default_severity=Severity.WARN,
    kinds=ALL_WORKLOAD_KINDS,
    check=check,
    fix=None,
    reason="Limits sized on idle usage OOM-kill HAProxy at the first traffic spike",
)
