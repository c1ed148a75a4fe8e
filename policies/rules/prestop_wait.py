"""Policy `prestop-wait`: every HAProxy container waits in preStop before HAProxy is signalled.

Endpoint removal runs in parallel with preStop. Without a wait, the stop reaches HAProxy while clients are still
routed to the pod: the HAProxy images stop with SIGUSR1, which unbinds the listeners at once (connections
refused), images without STOPSIGNAL stop with SIGTERM (everything cut), and the ingress controllers stop their
HAProxy within seconds. A preStop that signals HAProxy before any wait (`kill -USR1 ...; while ...`) does the
same. The handler is judged by what it runs (`model.prestop`); one whose effect cannot be told is left alone.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from haproxy_guard.policies.model.commands import script_index
from haproxy_guard.policies.model.families import BITNAMI, HAPROXY, HAPROXY_INGRESS, Family
from haproxy_guard.policies.model.findings import Severity, Violation
from haproxy_guard.policies.model.lifecycle import SHELL_SLEEP, prestop_wait_seconds
from haproxy_guard.policies.model.objects import ContainerRef
from haproxy_guard.policies.model.prestop import read_pre_stop
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.workload import Workload
from haproxy_guard.policies.policy import ALL_WORKLOAD_KINDS, Policy

POLICY_ID = "prestop-wait"
_NUMBER = re.compile(r"^\d+(?:\.\d+)?s?$")
_EFFECTS = {
    "SIGUSR1": "a soft stop that closes the listeners at once",
    "SIGTERM": "a hard stop that cuts every connection",
    "SIGKILL": "a kill that cuts every connection",
}


def _stop_effect(family: Family) -> str:
    """What the stop does to a pod that did not wait, for messages."""
    if family is HAPROXY:
        return "HAProxy's stop signal (SIGUSR1) closes its listeners at once"
    if family is BITNAMI:
        return "the runtime's stop signal (SIGTERM: the image sets no STOPSIGNAL) stops HAProxy hard, cutting every connection"
    if family.controller:
        return f"the {family.title} stops its HAProxy"
    return "the stop signal reaches HAProxy"


def _script_with_wait(command: list[str], seconds: int) -> list[str]:
    """The exec command with `sleep N` run first (a shell script gets it prepended; another command is wrapped
    in `/bin/sh -c`)."""
    index = script_index(command)
    if index is not None:
        return [*command[:index], f"sleep {seconds}; {command[index]}", *command[index + 1 :]]
    return ["/bin/sh", "-c", f"sleep {seconds}; {shlex.join(command)}"]


def _raise_wait(pre_stop: dict[str, Any], wait: int, minimum: int) -> None:
    """Raise a recognised exec wait of `wait` seconds (in all) to `minimum`, keeping its form."""
    command: list[str] = pre_stop["exec"]["command"]
    if len(command) == 2 and command[0].rsplit("/", 1)[-1] == "sleep":
        command[1] = (
            str(int(float(command[1].rstrip("s"))) + minimum - wait) if _NUMBER.match(command[1]) else str(minimum)
        )
        return
    index = script_index(command)
    if index is not None:
        script, missing = command[index], minimum - wait
        match = SHELL_SLEEP.search(script)
        if match:
            command[index] = script[: match.start(1)] + str(int(match.group(1)) + missing) + script[match.end(1) :]
        else:
            command[index] = f"sleep {missing}; {script}"


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
        first = read_pre_stop(ref.container).signal_first
        minimum = settings.pre_stop_seconds
        if first is not None:
            effect = _EFFECTS.get(first, "a stop")
            message = (
                f"container {ref.name}'s preStop sends {first} to HAProxy before waiting ({effect}) while load "
                f"balancers still route to the pod; wait at least {minimum}s first (sleep {minimum}; then the rest)"
            )
        elif wait == 0:
            hint = f" (or the controller's --wait-before-shutdown={minimum})" if ref.family is HAPROXY_INGRESS else ""
            message = (
                f"container {ref.name} has no preStop wait: {_stop_effect(ref.family)} while load balancers still "
                f"route to the pod; wait at least {minimum}s in preStop{hint}"
            )
        else:
            message = (
                f"container {ref.name} waits {wait}s in preStop, less than the minimum {minimum}s for endpoint "
                "removal to reach load balancers"
            )
        violations.append(Violation(message, f"{ref.pointer}/lifecycle/preStop"))
    return violations


def fix(workload: Workload, settings: Settings) -> bool:
    changed = False
    minimum = settings.pre_stop_seconds
    for ref in workload.haproxy_containers:
        wait = _short(ref, settings)
        if wait is None:
            continue
        lifecycle = ref.container.get("lifecycle")
        if not isinstance(lifecycle, dict):
            lifecycle = ref.container["lifecycle"] = {}
        pre_stop = lifecycle.get("preStop")
        if not isinstance(pre_stop, dict) or not pre_stop:
            lifecycle["preStop"] = _new_wait(settings)
        elif isinstance(pre_stop.get("sleep"), dict):
            pre_stop["sleep"]["seconds"] = pre_stop["sleep"].get("seconds", 0) + minimum - wait
        elif read_pre_stop(ref.container).wait_seconds == 0:
            pre_stop["exec"]["command"] = _script_with_wait(pre_stop["exec"]["command"], minimum - wait)
        else:
            _raise_wait(pre_stop, wait, minimum)
        changed = True
    return changed


POLICY: Policy = Policy(
    id=POLICY_ID,
    summary="HAProxy containers wait in preStop before HAProxy is signalled",
    default_severity=Severity.DENY,
    kinds=ALL_WORKLOAD_KINDS,
    check=check,
    fix=fix,
    reason=(
        "Endpoint removal runs in parallel with preStop; SIGUSR1 unbinds listeners at once (SIGTERM cuts "
        "everything), so without a wait every rollout resets connections still routed to the pod"
    ),
)
