"""Policy `termination-grace-period`: the grace period covers the preStop wait, the drain and a margin.

The grace period includes the preStop time; when it runs out the kubelet sends SIGKILL and every
connection still draining is cut. The policy only ever raises it.
"""

from __future__ import annotations

import math

from policies.config_workload import hard_stop_after_seconds
from policies.findings import Severity, Violation
from policies.policy import ALL_WORKLOAD_KINDS, Policy
from policies.prestop import prestop_wait_seconds
from policies.settings import Settings
from policies.workload import Workload

POLICY_ID = "termination-grace-period"
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


def _current(workload: Workload) -> int:
    value = workload.pod_spec.get("terminationGracePeriodSeconds", KUBERNETES_DEFAULT_GRACE_SECONDS)
    return value if isinstance(value, int) else KUBERNETES_DEFAULT_GRACE_SECONDS


def check(workload: Workload, settings: Settings) -> list[Violation]:
    current, required = _current(workload), required_grace_seconds(workload, settings)
    if current >= required:
        return []
    wait, drain = longest_wait(workload, settings), drain_seconds(workload, settings)
    return [
        Violation(
            f"terminationGracePeriodSeconds is {current}, below {required} (preStop wait {wait}s + drain "
            f"{drain}s + margin {settings.grace_margin_seconds}s): SIGKILL would cut connections still draining",
            f"{workload.pod_spec_pointer}/terminationGracePeriodSeconds",
        )
    ]


def fix(workload: Workload, settings: Settings) -> bool:
    required = required_grace_seconds(workload, settings)
    if _current(workload) >= required:
        return False
    workload.pod_spec["terminationGracePeriodSeconds"] = required
    return True


POLICY = Policy(
    id=POLICY_ID,
    summary="terminationGracePeriodSeconds >= preStop wait + drain time + margin (never lowered)",
    default_severity=Severity.DENY,
    kinds=ALL_WORKLOAD_KINDS,
    check=check,
    fix=fix,
    reason=(
        "The grace period includes preStop; when it ends the kubelet sends SIGKILL and cuts every "
        "connection HAProxy is still draining"
    ),
)
