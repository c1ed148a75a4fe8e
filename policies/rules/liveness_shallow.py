"""Policy `liveness-shallow`: the liveness probe must not use the deep readiness endpoint.

A liveness probe that fails when backends are down restarts every HAProxy pod during a backend outage,
turning a partial outage into a full one. Liveness should only ask "does the process answer".
"""

from __future__ import annotations

from haproxy_guard.policies.model.findings import Severity, Violation
from haproxy_guard.policies.model.health import known_endpoint
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.workload import Workload
from haproxy_guard.policies.policy import ALL_WORKLOAD_KINDS, Policy

POLICY_ID = "liveness-shallow"


def check(workload: Workload, settings: Settings) -> list[Violation]:
    endpoint, _, _ = known_endpoint(workload)
    if endpoint is None:
        return []
    violations = []
    for ref in workload.haproxy_containers:
        probe = ref.container.get("livenessProbe")
        http_get = probe.get("httpGet") if isinstance(probe, dict) else None
        if isinstance(http_get, dict) and http_get.get("path") == endpoint.path:
            violations.append(
                Violation(
                    f"container {ref.name} uses the deep readiness endpoint {endpoint.path} as its liveness "
                    "probe: a backend outage would restart every HAProxy pod; probe a shallow endpoint "
                    "(monitor-uri without monitor fail) or the traffic port instead",
                    f"{ref.pointer}/livenessProbe/httpGet/path",
                )
            )
    return violations


POLICY: Policy = Policy(
    id=POLICY_ID,
    summary="The liveness probe stays shallow (never the deep readiness endpoint)",
    default_severity=Severity.WARN,
    kinds=ALL_WORKLOAD_KINDS,
    check=check,
    fix=None,
    reason="A deep liveness probe restarts every HAProxy pod when the backends fail",
)
