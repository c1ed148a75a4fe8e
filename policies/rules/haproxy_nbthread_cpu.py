"""Policy `haproxy-nbthread-cpu`: HAProxy's threads fit the container's CPU limit.

HAProxy starts one thread per CPU it can run on (the node's, not the CFS quota) unless `nbthread` says
otherwise. More busy threads than the CPU limit makes the CFS throttle the whole process under bursts,
which queues connections and adds latency spikes of up to a CFS period (100 ms).
"""

from __future__ import annotations

import math

from haproxy_guard.policies.model.findings import Severity, Violation
from haproxy_guard.policies.model.quantities import parse_quantity
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.workload import Workload
from haproxy_guard.policies.model.workload_config import configs_of, limit
from haproxy_guard.policies.policy import ALL_WORKLOAD_KINDS, Policy

POLICY_ID = "haproxy-nbthread-cpu"


def check(workload: Workload, settings: Settings) -> list[Violation]:
    violations = []
    for ref in workload.haproxy_containers:
        cpu = parse_quantity(limit(ref, "cpu"))
        if cpu is None or cpu <= 0:
            continue
        allowed = max(1, math.ceil(cpu))
        for mounted in configs_of(workload, ref):
            threads = mounted.configmap.facts.nbthread
            if threads is not None and threads <= allowed:
                continue
            current = f"nbthread {threads}" if threads else "nbthread unset (one thread per node CPU)"
            violations.append(
                Violation(
                    f"container {ref.name}: {current} but a CPU limit of {cpu.normalize():f}: the CFS throttles "
                    f"HAProxy under bursts; set nbthread {allowed} in ConfigMap {mounted.configmap.name}",
                    f"{ref.pointer}/resources/limits/cpu",
                )
            )
    return violations


POLICY: Policy = Policy(
    id=POLICY_ID,
    summary="`nbthread` (default: one per node CPU) is at most the container's CPU limit",
    default_severity=Severity.WARN,
    kinds=ALL_WORKLOAD_KINDS,
    check=check,
    fix=None,
    reason="More threads than the CPU quota get throttled by the CFS under bursts: queued connections",
)
