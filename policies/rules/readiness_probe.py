"""Policy `readiness-probe`: HAProxy containers are ready only when their backends can serve.

A probe that only opens the traffic port passes while every backend is down, and so does an exec probe that
only sees the process (`pgrep haproxy`, `pidof`, `kill -0`, `test -f` of a pid file, `nc -z`). When the deep
endpoint is known (from the mounted configuration, else the annotations), a missing or shallow readiness probe
is replaced by an httpGet probe on it; an httpGet or grpc probe, or an exec probe that asks something (curl,
the runtime API), is the user's choice and left alone. The ingress controllers and gateways generate their own
configuration: their readiness endpoint is the controller's (for example `/healthz` on 1042 for haproxytech's),
never a change to a file the controller writes.
"""

from __future__ import annotations

import re
from typing import Any

from haproxy_guard.policies.model.commands import SHELLS, program_name, shell_script
from haproxy_guard.policies.model.findings import Severity, Violation
from haproxy_guard.policies.model.health import HealthEndpoint, known_endpoint
from haproxy_guard.policies.model.objects import ContainerRef
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.workload import Workload
from haproxy_guard.policies.policy import ALL_WORKLOAD_KINDS, Policy

POLICY_ID = "readiness-probe"
_TIMING_FIELDS = ("periodSeconds", "timeoutSeconds", "failureThreshold", "successThreshold")


_SHALLOW_PROGRAMS = frozenset({"pgrep", "pidof", "test", "[", "ls", "cat", "true", "ps", "stat"})


def _shallow_command(words: list[str]) -> bool:
    """Whether an exec probe only sees the process or a file (or a port being open)."""
    if not words:
        return True
    program = program_name(words[0])
    if program in SHELLS:
        script = shell_script(words) or ""
        parts = [part.split() for part in re.split(r"&&|\|\||;|\n", script) if part.strip()]
        return bool(parts) and all(_shallow_command(part) for part in parts)
    if program in {"kill", "killall", "pkill"}:
        return any(word in {"-0", "-s0", "--signal=0"} for word in words) or words[1:3] == ["-s", "0"]
    if program in {"nc", "ncat"}:
        return "-z" in words
    return program in _SHALLOW_PROGRAMS


def probe_is_shallow(container: dict[str, Any]) -> bool:
    """No readiness probe, a tcpSocket one, or an exec one that only sees the process."""
    probe = container.get("readinessProbe")
    if not isinstance(probe, dict) or "tcpSocket" in probe:
        return True
    command = probe.get("exec", {}).get("command") if isinstance(probe.get("exec"), dict) else None
    if isinstance(command, list) and all(isinstance(word, str) for word in command):
        return _shallow_command(command)
    return False


def _current(container: dict[str, Any]) -> str:
    probe = container.get("readinessProbe")
    if not isinstance(probe, dict):
        return "no readiness probe"
    if "tcpSocket" in probe:
        return "a tcpSocket readiness probe"
    return f"an exec readiness probe that only sees the process ({' '.join(probe['exec']['command'])[:60]})"


def check(workload: Workload, settings: Settings) -> list[Violation]:
    endpoint, target, problem = known_endpoint(workload)
    violations = [Violation(problem, "/metadata/annotations")] if problem else []
    for ref in workload.haproxy_containers:
        if not probe_is_shallow(ref.container):
            continue
        current = _current(ref.container)
        if endpoint is not None and ref is target:
            advice = f"use an httpGet probe on {endpoint.path} port {endpoint.port}"
        elif ref.family.controller:
            own = ref.family.readiness
            advice = (
                f"use an httpGet probe on the controller's {own[1]} port {own[0]}"
                if own is not None
                else "use an httpGet probe on the controller's health endpoint"
            )
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


def _endpoint(workload: Workload) -> tuple[HealthEndpoint | None, ContainerRef | None]:
    """The endpoint a fix probes and its container: the configuration's or annotations', else the
    controller family's own."""
    endpoint, target, _ = known_endpoint(workload)
    if endpoint is not None:
        return endpoint, target
    for ref in workload.haproxy_containers:
        if ref.family.controller and ref.family.readiness is not None:
            return HealthEndpoint(*ref.family.readiness), ref
    return None, None


def fix(workload: Workload, settings: Settings) -> bool:
    endpoint, target = _endpoint(workload)
    if endpoint is None or target is None or not probe_is_shallow(target.container):
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
