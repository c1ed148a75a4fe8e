"""Policy `readiness-probe`: HAProxy containers are ready only when their backends can serve.

A probe that only opens the traffic port passes while every backend is down. When the deep endpoint is
known (from the mounted configuration, else the annotations), a missing or tcpSocket readiness probe is replaced by an httpGet probe on it; an httpGet, exec or
grpc probe is the user's choice and left alone.
"""

from __future__ import annotations

from typing import Any

from haproxy_guard.policies.model.findings import Severity, Violation
from haproxy_guard.policies.model.health import known_endpoint
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.workload import Workload
from haproxy_guard.policies.policy import ALL_WORKLOAD_KINDS, Policy

POLICY_ID = "readiness-probe"
_TIMING_FIELDS = ("periodSeconds", "timeoutSeconds", "failureThreshold", "successThreshold")


def _is_shallow(container: dict[str, Any]) -> bool:
    probe = container.get("readinessProbe")
    return not isinstance(probe, dict) or "tcpSocket" in probe


def check(workload: Workload, settings: Settings) -> list[Violation]:
    endpoint, target, problem = known_endpoint(workload)
    violations = [Violation(problem, "/metadata/annotations")] if problem else []
    for ref in workload.haproxy_containers:
        if not _is_shallow(ref.container):
            continue
        current = "a tcpSocket readiness probe" if "readinessProbe" in ref.container else "no readiness probe"
        if endpoint is not None and ref is target:
            advice = f"use an httpGet probe on {endpoint.path} port {endpoint.port}"
        else:
            advice = (
                "add a deep endpoint to haproxy.cfg (monitor-uri with monitor fail, or http-request return) and "
                "declare it with the haproxy-guard.io/health-port and health-path annotations"
            )
        violations.append(
            Violation(
                f"container {ref.name} has {current}: it stays ready while every backend is down; {advice}",
                f"{ref.pointer}/readinessProbe",
            )
        )
    return violations


def fix(workload: Workload, settings: Settings) -> bool:
    endpoint, target, _ = known_endpoint(workload)
    if endpoint is None or target is None or not _is_shallow(target.container):
        return False
    existing = target.container.get("readinessProbe")
    probe: dict[str, Any] = {"httpGet": {"path": endpoint.path, "port": endpoint.port, "scheme": "HTTP"}}
    timings = settings.readiness_probe
    defaults = (
        timings.period_seconds,
        timings.timeout_seconds,
        timings.failure_threshold,
        timings.success_threshold,
    )
    for field, default in zip(_TIMING_FIELDS, defaults, strict=True):
        probe[field] = existing.get(field, default) if isinstance(existing, dict) else default
    if isinstance(existing, dict) and "initialDelaySeconds" in existing:
        probe["initialDelaySeconds"] = existing["initialDelaySeconds"]
    target.container["readinessProbe"] = probe
    return True


POLICY: Policy = Policy(
    id=POLICY_ID,
    summary="HAProxy containers have a deep (httpGet) readiness probe; injected when the endpoint is known",
    default_severity=Severity.WARN,
    kinds=ALL_WORKLOAD_KINDS,
    check=check,
    fix=fix,
    reason=(
        "A port-open probe passes while every backend is down, so traffic keeps flowing to a proxy that can "
        "only answer 503"
    ),
)
