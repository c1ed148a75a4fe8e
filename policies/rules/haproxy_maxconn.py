"""Policy `haproxy-maxconn`: `global maxconn` is set.

Unset, HAProxy derives it from the file-descriptor limit: (RLIMIT_NOFILE - used) / 2, which container
runtimes put at 1048576 or 524288, i.e. 260k-520k connections: a spike reaches the memory limit first.
"""

from __future__ import annotations

from haproxy_guard.policies.model.configmap import ConfigSubject, needs_configuration
from haproxy_guard.policies.model.findings import Severity, Violation
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.policy import Policy

POLICY_ID = "haproxy-maxconn"


@needs_configuration
def check_configmap(subject: ConfigSubject, settings: Settings) -> list[Violation]:
    if subject.configmap.facts.maxconn is not None:
        return []
    return [
        Violation(
            "global maxconn is not set: HAProxy derives it from the file-descriptor limit (hundreds of thousands "
            "in containers), so a traffic spike hits the memory limit and the pod is OOM-killed; set maxconn "
            "and size the memory limit for it",
            subject.configmap.pointer,
        )
    ]


POLICY: Policy = Policy(
    id=POLICY_ID,
    summary="`global maxconn` is set",
    default_severity=Severity.WARN,
    kinds=frozenset(),
    check=None,
    fix=None,
    reason="Unset, maxconn follows the fd limit (260k-520k in containers): unbounded memory under a spike",
    check_configmap=check_configmap,
)
