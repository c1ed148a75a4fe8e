"""The pod's stop sequence as the policies reason about it: the preStop wait a container's handler makes,
and the grace period that must cover that wait, HAProxy's drain and a margin (shared by `prestop-wait`,
`termination-grace-period` and `haproxy-hard-stop-after`)."""

from __future__ import annotations

import math
import re
from typing import Any

from haproxy_guard.policies.haproxy.durations import parse_seconds
from haproxy_guard.policies.model.prestop import read_pre_stop
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.workload import Workload
from haproxy_guard.policies.model.workload_config import hard_stop_after_seconds

SHELL_SLEEP = re.compile(r"(?:^|(?<=[;&|\n(]))\s*(?:exec\s+)?sleep\s+(\d+)s?(?=\s|;|&|$)")
"""The first `sleep N` in command position of a shell script (the wait a fix raises)."""


def mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def prestop_wait_seconds(container: dict[str, Any]) -> int | None:
    """Seconds the container's preStop waits before HAProxy is first signalled: 0 without preStop or when it
    signals first, None when its effect cannot be told (an unknown program, an httpGet handler).

    Read by `prestop.read_pre_stop` from what the handler runs (native `sleep`, `exec: [sleep, N]`, shell
    scripts). The haproxy-ingress controller's own `--wait-before-shutdown=N` counts as a wait too.
    """
    pre_stop = read_pre_stop(container)
    if pre_stop.kind == "http":
        return None
    wait = pre_stop.wait_seconds
    if wait is None:
        return None
    return int(min(wait, 10**6)) + controller_wait_seconds(container)


def controller_wait_seconds(container: dict[str, Any]) -> int:
    """The haproxy-ingress controller's `--wait-before-shutdown` (seconds or a Go duration), else 0."""
    words = [word for key in ("command", "args") for word in container.get(key) or [] if isinstance(word, str)]
    for index, word in enumerate(words):
        value = None
        if word.startswith("--wait-before-shutdown="):
            value = word.split("=", 1)[1]
        elif word == "--wait-before-shutdown" and index + 1 < len(words):
            value = words[index + 1]
        if value is not None:
            seconds = parse_seconds(value if not value.isdigit() else value + "s")
            return int(seconds) if seconds is not None else 0
    return 0


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
