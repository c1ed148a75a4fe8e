"""Policy `haproxy-dns-resolvers`: servers named by host name are re-resolved at run time.

Without a `resolvers` section referenced by the server, HAProxy resolves the name once at start-up
(libc) and keeps that address: after a pod behind a headless Service moves, traffic goes to a dead IP.
"""

from __future__ import annotations

from haproxy_guard.policies.model.configmap import ConfigSubject, needs_configuration
from haproxy_guard.policies.model.findings import Severity, Violation
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.policy import Policy

POLICY_ID = "haproxy-dns-resolvers"


@needs_configuration
def check_configmap(subject: ConfigSubject, settings: Settings) -> list[Violation]:
    key, pointer = subject.configmap.config_keys[0], subject.configmap.pointer
    return [
        Violation(
            f"{key}:{server.line}: {server.what} is resolved only once at start-up and goes stale when pod IPs "
            "change; add a resolvers section (parse-resolv-conf) and `resolvers <name> init-addr last,libc,none` "
            "on the server, or use server-template for headless Services",
            pointer,
        )
        for server in subject.configmap.facts.servers_without_resolvers
    ]


POLICY: Policy = Policy(
    id=POLICY_ID,
    summary="Servers given by host name use a `resolvers` section",
    default_severity=Severity.WARN,
    kinds=frozenset(),
    check=None,
    fix=None,
    reason="Names are otherwise resolved once at start-up: stale addresses after backend pods move",
    check_configmap=check_configmap,
)
