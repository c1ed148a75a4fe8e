"""Policy `haproxy-hard-stop-after`: a soft stop is bounded, and fits in the grace period.

Unset, a single long-lived connection keeps a stopping HAProxy alive until the kubelet's SIGKILL cuts
everything at once. Set, it must end before the grace period does: preStop wait + hard-stop-after +
margin <= terminationGracePeriodSeconds (the grace-period policy raises the grace period to fit it).
"""

from __future__ import annotations

import math

from haproxy_guard.policies.model.configmap import ConfigSubject, needs_configuration
from haproxy_guard.policies.model.findings import Severity, Violation
from haproxy_guard.policies.model.lifecycle import KUBERNETES_DEFAULT_GRACE_SECONDS, longest_wait
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.workload import Workload
from haproxy_guard.policies.model.workload_config import hard_stop_after_seconds
from haproxy_guard.policies.policy import ALL_WORKLOAD_KINDS, Policy

POLICY_ID = "haproxy-hard-stop-after"


@needs_configuration
def check_configmap(subject: ConfigSubject, settings: Settings) -> list[Violation]:
    if subject.configmap.facts.hard_stop_after_seconds is not None:
        return []
    return [
        Violation(
            "global hard-stop-after is not set: one long-lived connection keeps a stopping HAProxy alive until "
            f"SIGKILL cuts every connection; set it (e.g. hard-stop-after {settings.drain_seconds}s) below the "
            "pods' terminationGracePeriodSeconds minus the preStop wait",
            subject.configmap.pointer,
        )
    ]


def check(workload: Workload, settings: Settings) -> list[Violation]:
    hard_stop = hard_stop_after_seconds(workload)
    if hard_stop is None:
        return []
    grace = workload.pod_spec.get("terminationGracePeriodSeconds", KUBERNETES_DEFAULT_GRACE_SECONDS)
    needed = longest_wait(workload, settings) + math.ceil(hard_stop) + settings.grace_margin_seconds
    if not isinstance(grace, int) or grace >= needed:
        return []
    return [
        Violation(
            f"hard-stop-after {hard_stop:g}s is longer than the grace period allows: terminationGracePeriodSeconds "
            f"{grace} < preStop wait {longest_wait(workload, settings)}s + {hard_stop:g}s + margin "
            f"{settings.grace_margin_seconds}s; SIGKILL would end the drain early",
            f"{workload.pod_spec_pointer}/terminationGracePeriodSeconds",
        )
    ]


POLICY: Policy = Policy(
    id=POLICY_ID,
    summary="`hard-stop-after` is set, and preStop wait + hard-stop-after + margin fits the grace period",
    default_severity=Severity.WARN,
    kinds=ALL_WORKLOAD_KINDS,
    check=check,
    fix=None,
    reason="An unbounded soft stop ends in SIGKILL; a bound longer than the grace period is cut short anyway",
    check_configmap=check_configmap,
)
