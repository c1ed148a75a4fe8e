"""Policy `haproxy-health-endpoint`: the configuration declares a deep readiness endpoint.

A frontend with `monitor-uri` plus `monitor fail if <no usable servers>`, or one answering
`http-request return status 503 ... if { path /ready } <condition>` and 200 otherwise. The readiness
policy probes it; without it the pod's readiness cannot see its backends.
"""

from __future__ import annotations

from haproxy_guard.policies.model.configmap import ConfigSubject, needs_configuration
from haproxy_guard.policies.model.findings import Severity, Violation
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.policy import Policy

POLICY_ID = "haproxy-health-endpoint"
SNIPPET = (
    "frontend health / bind :8405 / monitor-uri /healthz / acl no_servers nbsrv(<backend>) lt 1 / "
    'http-request return status 503 content-type text/plain string "not ready" if { path /ready } no_servers || '
    "{ path /ready } { stopping } / "
    'http-request return status 200 content-type text/plain string "ok" if { path /ready }'
)


@needs_configuration
def check_configmap(subject: ConfigSubject, settings: Settings) -> list[Violation]:
    if subject.configmap.facts.health_endpoint is not None:
        return []
    return [
        Violation(
            f"no deep readiness endpoint (monitor-uri with monitor fail, or http-request return on a path): "
            f"readiness cannot see the backends; add for example: {SNIPPET}",
            subject.configmap.pointer,
        )
    ]


POLICY: Policy = Policy(
    id=POLICY_ID,
    summary="The configuration has a deep readiness endpoint (monitor fail, or http-request return on a path)",
    default_severity=Severity.WARN,
    kinds=frozenset(),
    check=None,
    fix=None,
    reason="Readiness probes can only be deep when HAProxy exposes its backends' state",
    check_configmap=check_configmap,
)
