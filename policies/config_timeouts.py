"""Policy `haproxy-timeouts`: every proxy has `timeout client`, `server` and `connect` (own or defaults).

Without them, idle or half-open connections are kept forever: file descriptors and memory leak until
the pod is restarted, and a soft stop never completes.
"""

from __future__ import annotations

from policies.configmap import ConfigSubject
from policies.findings import Severity, Violation, json_pointer
from policies.policy import Policy
from policies.settings import Settings

POLICY_ID = "haproxy-timeouts"


def check_configmap(subject: ConfigSubject, settings: Settings) -> list[Violation]:
    key = subject.configmap.config_keys[0]
    return [
        Violation(
            f"{key}:{missing.line}: {missing.what} missing: connections without it are never closed and a soft "
            "stop never ends; set it in the proxy or in defaults",
            json_pointer("data", key),
        )
        for missing in subject.configmap.facts.missing_timeouts
    ]


POLICY = Policy(
    id=POLICY_ID,
    summary="Proxies have client, server and connect timeouts (in the section or its defaults)",
    default_severity=Severity.WARN,
    kinds=frozenset(),
    check=None,
    fix=None,
    reason="Missing timeouts keep dead connections forever and make soft stops hang until SIGKILL",
    check_configmap=check_configmap,
)
