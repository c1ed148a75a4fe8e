"""Policy `prestop-wait`: every HAProxy container waits in preStop before the stop signal arrives.

Endpoint removal runs in parallel with preStop. The HAProxy images stop with SIGUSR1, which unbinds the
listeners at once, so without a wait clients still routed to the pod get connection resets.
"""

from __future__ import annotations

from typing import Any

from haproxy_guard.policies.model.findings import Severity, Violation
from haproxy_guard.policies.model.lifecycle import SHELL_SLEEP, SLEEPS, prestop_wait_seconds
from haproxy_guard.policies.model.objects import ContainerRef
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.workload import Workload
from haproxy_guard.policies.policy import ALL_WORKLOAD_KINDS, Policy

POLICY_ID = "prestop-wait"


def _raise_wait(pre_stop: dict[str, Any], seconds: int) -> None:
    """Raise an existing recognised wait to `seconds`, keeping its form."""
    if isinstance(pre_stop.get("sleep"), dict):
        pre_stop["sleep"]["seconds"] = seconds
        return
    command: list[str] = pre_stop["exec"]["command"]
    if command[0] in SLEEPS:
        command[1] = str(seconds)
    else:
        command[2] = SHELL_SLEEP.sub(lambda m: m.group(0).replace(m.group(1), str(seconds), 1), command[2], 1)


def _new_wait(settings: Settings) -> dict[str, Any]:
    if settings.supports_sleep_action():
        return {"sleep": {"seconds": settings.pre_stop_seconds}}
    return {"exec": {"command": ["sleep", str(settings.pre_stop_seconds)]}}


def _short(ref: ContainerRef, settings: Settings) -> int | None:
    """The container's wait when it is known and shorter than the minimum, else None."""
    wait = prestop_wait_seconds(ref.container)
    return wait if wait is not None and wait < settings.pre_stop_seconds else None


def check(workload: Workload, settings: Settings) -> list[Violation]:
    violations = []
    for ref in workload.haproxy_containers:
        wait = _short(ref, settings)
        if wait is None:
            continue
        if wait == 0:
            message = (
                f"container {ref.name} has no preStop wait: HAProxy's stop signal (SIGUSR1) closes its "
                f"listeners at once while load balancers still route to the pod; wait at least "
                f"{settings.pre_stop_seconds}s in preStop"
            )
        else:
            message = (
                f"container {ref.name} waits {wait}s in preStop, less than the minimum "
                f"{settings.pre_stop_seconds}s for endpoint removal to reach load balancers"
            )
        violations.append(Violation(message, f"{ref.pointer}/lifecycle/preStop"))
    return violations


def fix(workload: Workload, settings: Settings) -> bool:
    changed = False
    for ref in workload.haproxy_containers:
        wait = _short(ref, settings)
        if wait is None:
            continue
        lifecycle = ref.container.get("lifecycle")
        if not isinstance(lifecycle, dict):
            lifecycle = ref.container["lifecycle"] = {}
        if wait == 0:
            lifecycle["preStop"] = _new_wait(settings)
        else:
            _raise_wait(lifecycle["preStop"], settings.pre_stop_seconds)
        changed = True
    return changed


POLICY: Policy = Policy(
    id=POLICY_ID,
    summary="HAProxy containers wait in preStop before the stop signal",
    default_severity=Severity.DENY,
    kinds=ALL_WORKLOAD_KINDS,
    check=check,
    fix=fix,
    reason=(
        "Endpoint removal runs in parallel with preStop; SIGUSR1 unbinds listeners at once, so without a "
        "wait every rollout resets connections still routed to the pod"
    ),
)
