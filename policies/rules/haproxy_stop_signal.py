"""Policy `haproxy-stop-signal`: HAProxy stops softly (SIGUSR1: finish the connections it has, then exit).

SIGTERM is HAProxy's hard stop: every established connection is cut at once, even after a preStop wait has
taken the pod out of the load balancers. Images without `STOPSIGNAL` (Bitnami's) stop with the runtime's
default SIGTERM, and so does a `lifecycle.stopSignal: SIGTERM`; the haproxytech ingress controller's
supervisor turns its stop signal into SIGTERM for HAProxy. The stop is soft when the preStop soft-stops HAProxy
itself after its wait (`sleep N; kill -USR1 1; while kill -0 1; do sleep 1; done`), or when the container's stop
signal is SIGUSR1.

Fixes: `lifecycle.stopSignal: SIGUSR1` where the cluster has the ContainerStopSignals feature
(`containerStopSignals: true`; it also needs the pod's `spec.os.name`), otherwise, for an image whose main
process is HAProxy, a preStop that waits, soft-stops it and waits for its drain (the grace period policy
covers the drain). For the ingress controller, whose supervisor restarts an HAProxy that exits, only advice.
"""

from __future__ import annotations

from typing import Any

from haproxy_guard.policies.model.families import BITNAMI, KUBERNETES_INGRESS
from haproxy_guard.policies.model.findings import Severity, Violation
from haproxy_guard.policies.model.lifecycle import prestop_wait_seconds
from haproxy_guard.policies.model.objects import ContainerRef
from haproxy_guard.policies.model.prestop import HARD_SIGNALS, read_pre_stop
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.workload import Workload
from haproxy_guard.policies.policy import ALL_WORKLOAD_KINDS, Policy

POLICY_ID = "haproxy-stop-signal"
SOFT_STOP_SCRIPT = "sleep {seconds}; kill -USR1 1; while kill -0 1 2>/dev/null; do sleep 1; done"
"""Wait for endpoint removal, soft-stop the container's main process (HAProxy), wait for its drain."""


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _written_signal(ref: ContainerRef) -> str | None:
    written = _mapping(ref.container.get("lifecycle")).get("stopSignal")
    return written.upper() if isinstance(written, str) else None


def _hard_stop(ref: ContainerRef) -> str | None:
    """Why the container's HAProxy stops hard, or None when it stops softly (or it cannot be told)."""
    pre_stop = read_pre_stop(ref.container)
    if pre_stop.steps is None or pre_stop.soft_stops:
        return None
    written = _written_signal(ref)
    if ref.family is KUBERNETES_INGRESS:
        return "its s6 supervisor turns the stop signal into SIGTERM for HAProxy (a hard stop)"
    if written is not None and ref.family.user_config:
        # the stop signal goes to the container's main process: HAProxy itself in these images
        return f"lifecycle.stopSignal is {written}, a hard stop for HAProxy" if written in HARD_SIGNALS else None
    if ref.family is BITNAMI:
        return "the image sets no STOPSIGNAL, so the runtime sends SIGTERM (a hard stop)"
    return None


def check(workload: Workload, settings: Settings) -> list[Violation]:
    violations = []
    for ref in workload.haproxy_containers:
        why = _hard_stop(ref)
        if why is None:
            continue
        seconds = max(prestop_wait_seconds(ref.container) or 0, settings.pre_stop_seconds)
        script = SOFT_STOP_SCRIPT.format(seconds=seconds)
        if ref.family is KUBERNETES_INGRESS:
            advice = (
                "soft-stop HAProxy in preStop after the wait, as the chart's values.yaml documents, with the wait "
                f"first: sleep {seconds}; kill -USR1 $(pidof haproxy); ..."
            )
        else:
            advice = (
                "set lifecycle.stopSignal: SIGUSR1 (Kubernetes 1.33+ with the ContainerStopSignals feature, and "
                f"spec.os.name: linux), or soft-stop in preStop after the wait: {script}"
            )
        violations.append(
            Violation(
                f"container {ref.name} stops HAProxy with SIGTERM: {why}; every established connection is cut "
                f"even after the preStop wait; {advice}",
                f"{ref.pointer}/lifecycle",
                advisory=ref.family is KUBERNETES_INGRESS,
            )
        )
    return violations


def fix(workload: Workload, settings: Settings) -> bool:
    changed = False
    for ref in workload.haproxy_containers:
        if _hard_stop(ref) is None or ref.family is KUBERNETES_INGRESS:
            continue
        lifecycle = ref.container.get("lifecycle")
        if not isinstance(lifecycle, dict):
            lifecycle = ref.container["lifecycle"] = {}
        if _written_signal(ref) is not None or settings.container_stop_signals:
            lifecycle["stopSignal"] = "SIGUSR1"
            if not isinstance(workload.pod_spec.get("os"), dict):
                workload.pod_spec["os"] = {"name": "linux"}
            changed = True
            continue
        pre_stop = read_pre_stop(ref.container)
        if pre_stop.steps is None or any(step.kind != "wait" for step in pre_stop.steps):
            continue  # a handler that does more than wait is the user's: advice only
        seconds = max(prestop_wait_seconds(ref.container) or 0, settings.pre_stop_seconds)
        lifecycle["preStop"] = {"exec": {"command": ["/bin/sh", "-c", SOFT_STOP_SCRIPT.format(seconds=seconds)]}}
        changed = True
    return changed


POLICY: Policy = Policy(
    id=POLICY_ID,
    summary="HAProxy stops softly (SIGUSR1, or a preStop that soft-stops it after the wait), never with SIGTERM",
    default_severity=Severity.DENY,
    kinds=ALL_WORKLOAD_KINDS,
    check=check,
    fix=fix,
    reason=(
        "SIGTERM is HAProxy's hard stop: images without STOPSIGNAL (Bitnami's) cut every established "
        "connection at each pod stop, even after the preStop wait (measured by the drill)"
    ),
)
