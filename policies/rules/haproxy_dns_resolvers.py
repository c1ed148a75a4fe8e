"""Policy `haproxy-dns-resolvers`: servers named by a host name whose address can change are re-resolved at run
time.

Without a `resolvers` section referenced by the server, HAProxy resolves the name once at start-up (libc) and
keeps that address: after a pod behind a headless Service moves, traffic goes to a dead IP. A Service with a
cluster IP is a virtual address that never changes while the Service exists, so its name needs no resolvers:
names of Services known to have one (from the input or the cluster) and names in the cluster's Service domain
(`NAME.NAMESPACE.svc`, `...svc.cluster.local`) unless that Service is known to be headless.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from haproxy_guard.policies.model.configmap import ConfigSubject, needs_configuration
from haproxy_guard.policies.model.findings import Severity, Violation
from haproxy_guard.policies.model.objects import Object
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.policy import Policy

POLICY_ID = "haproxy-dns-resolvers"


def _cluster_ip(service: Object) -> bool | None:
    """True for a Service with a virtual IP, False for a headless or ExternalName one, None when unclear."""
    spec: Any = service.get("spec")
    if not isinstance(spec, dict):
        return None
    if spec.get("type") == "ExternalName":
        return False
    return spec.get("clusterIP") not in {"None"}


def stable_address(
    host: str, namespace: str | None, services: Callable[[str | None, str], Object | None] | None
) -> bool:
    """Whether `host` names a Service with a cluster IP (its address never changes while it exists)."""
    labels = host.lower().rstrip(".").split(".")
    in_service_domain = len(labels) >= 3 and labels[2] == "svc"
    if len(labels) == 1:
        name, where = labels[0], namespace
    elif len(labels) == 2 or in_service_domain:
        name, where = labels[0], labels[1]
    else:
        return False  # a name outside the cluster's Service domain
    service = services(where, name) if services is not None else None
    if service is not None:
        known = _cluster_ip(service)
        if known is not None:
            return known
    return in_service_domain


@needs_configuration
def check_configmap(subject: ConfigSubject, settings: Settings) -> list[Violation]:
    key, pointer = subject.configmap.config_keys[0], subject.configmap.pointer
    return [
        Violation(
            f"{key}:{server.line}: {server.what} is resolved only once at start-up and goes stale when its "
            "address changes (pods behind a headless Service, an external name); add a resolvers section "
            "(parse-resolv-conf) and `resolvers <name> init-addr last,libc,none` on the server, or use "
            "server-template for headless Services",
            pointer,
        )
        for server in subject.configmap.facts.servers_without_resolvers
        if not stable_address(server.host, subject.configmap.namespace, subject.services)
    ]


POLICY: Policy = Policy(
    id=POLICY_ID,
    summary="Servers given by a host name that can change address use a `resolvers` section",
    default_severity=Severity.WARN,
    kinds=frozenset(),
    check=None,
    fix=None,
    reason=(
        "Names are otherwise resolved once at start-up: stale addresses after backend pods move (a Service's "
        "cluster IP never moves, so its name is exempt)"
    ),
    check_configmap=check_configmap,
)
