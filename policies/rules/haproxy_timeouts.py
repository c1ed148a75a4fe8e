"""Policy `haproxy-timeouts`: every proxy has `timeout client`, `server` and `connect` (own or defaults).

Without them, idle or half-open connections are kept forever: file descriptors and memory leak until
the pod is restarted, and a soft stop never completes.
"""

from __future__ import annotations

from haproxy_guard.policies.model.configmap import ConfigSubject, needs_configuration
from haproxy_guard.policies.model.findings import Severity, Violation
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.policy import Policy

POLICY_ID = "haproxy-timeouts"


@needs_configuration
def check_configmap(subject: ConfigSubject, settings: Settings) -> list[Violation]:
    key, pointer = subject.configmap.config_keys[0], subject.configmap.pointer
    return [
        Violation(
            f"{key}:{missing.line}: {missing.what} missing: connections without it are never closed and a soft "
            "stop never ends; set it in the proxy or in defaults",
            pointer,
        )
        for missing in subject.configmap.facts.missing_timeouts
    ]


POLICY: Policy = Policy(
    id=POLICY_ID,
    summary="Proxies have client, server and connect timeouts (in the section or its defaults)",
    default_severity=Severity.WARN,
    kinds=frozenset(),
    check=None,
    fix=None,
    reason="Missing timeouts keep dead connections forever and make soft stops hang until SIGKILL",
    check_configmap=check_configmap,
)
