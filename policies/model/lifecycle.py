"""The pod's stop sequence as the policies reason about it: the preStop wait a container's handler makes,
and the grace period that must cover that wait, HAProxy's drain and a margin (shared by `prestop-wait`,
`termination-grace-period` and `haproxy-hard-stop-after`)."""

from __future__ import annotations

import math
import re
from typing import Any

from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.workload import Workload
from haproxy_guard.policies.model.workload_config import hard_stop_after_seconds

SHELLS = frozenset({"sh", "/bin/sh", "bash", "/bin/bash", "ash", "/bin/ash", "/usr/bin/sh", "/usr/bin/bash"})
SLEEPS = frozenset({"sleep", "/bin/sleep", "/usr/bin/sleep"})
SHELL_SLEEP = re.compile(r"^\s*(?:exec\s+)?sleep\s+(\d+)s?(?=\s|;|&|$)")
SECONDS = re.compile(r"^(\d+)s?$")


def mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def prestop_wait_seconds(container: dict[str, Any]) -> int | None:
    """Seconds the container's preStop waits: 0 without preStop, None when the handler is not a plain wait.

    Recognised waits: the native `sleep` action, `exec: [sleep, N]` and a shell running `sleep N` first.
    """
    pre_stop = mapping(mapping(container.get("lifecycle")).get("preStop"))
    if not pre_stop:
        return 0
    sleep = pre_stop.get("sleep")
    if isinstance(sleep, dict):
        seconds = sleep.get("seconds")
        return seconds if isinstance(seconds, int) else None
    command = mapping(pre_stop.get("exec")).get("command")
    if not isinstance(command, list) or not command or not all(isinstance(part, str) for part in command):
        return None
    if command[0] in SLEEPS and len(command) == 2:
        match = SECONDS.match(command[1])
        return int(match.group(1)) if match else None
    if command[0] in SHELLS and len(command) == 3 and command[1] == "-c":
        match = SHELL_SLEEP.match(command[2])
        return int(match.group(1)) if match else None
    return None


KUBERNETES_DEFAULT_GRACE_SECONDS = 30


def longest_wait(workload: Workload, settings: Settings) -> int:
    """The longest preStop wait of the HAProxy containers once `prestop-wait` holds (never below its minimum).

    An unrecognised handler counts as the minimum.
    """
    waits = (prestop_wait_seconds(ref.container) for ref in workload.haproxy_containers)
    return max(max(wait or 0, settings.pre_stop_seconds) for wait in waits)


def drain_seconds(workload: Workload, settings: Settings) -> int:
    """How long HAProxy may drain after the stop signal: the mounted configuration's `hard-stop-after`
    when it sets one, else `drainSeconds`."""
    hard_stop = hard_stop_after_seconds(workload)
    return math.ceil(hard_stop) if hard_stop is not None else settings.drain_seconds


def required_grace_seconds(workload: Workload, settings: Settings) -> int:
    return longest_wait(workload, settings) + drain_seconds(workload, settings) + settings.grace_margin_seconds
