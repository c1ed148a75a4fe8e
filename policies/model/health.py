"""The deep readiness endpoint of an HAProxy workload, and which container serves it.

Known from the workload annotations `haproxy-guard.io/health-port` and `haproxy-guard.io/health-path`;
a port given as a name must be declared by the container that serves it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from haproxy_guard.policies.model.objects import HEALTH_PATH_ANNOTATION, HEALTH_PORT_ANNOTATION, ContainerRef
from haproxy_guard.policies.model.workload import Workload

_PORT_NAME = re.compile(r"^(?=.*[a-z])[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$")


@dataclass(frozen=True, slots=True)
class HealthEndpoint:
    """Where the deep readiness check answers: an HTTP path on a port (number or container port name)."""

    port: int | str
    path: str


@dataclass(frozen=True, slots=True)
class EndpointProblem:
    """Why the annotations do not give a usable endpoint."""

    message: str


def _declares_port(container: dict[str, Any], port: int | str) -> bool:
    ports = container.get("ports")
    if not isinstance(ports, list):
        return False
    key = "name" if isinstance(port, str) else "containerPort"
    return any(isinstance(entry, dict) and entry.get(key) == port for entry in ports)


def annotated_endpoint(workload: Workload) -> HealthEndpoint | EndpointProblem | None:
    """The endpoint the annotations declare, a problem with them, or None when neither is set."""
    port_text = workload.annotations.get(HEALTH_PORT_ANNOTATION)
    path = workload.annotations.get(HEALTH_PATH_ANNOTATION)
    if port_text is None and path is None:
        return None
    if port_text is None or path is None:
        missing = HEALTH_PORT_ANNOTATION if port_text is None else HEALTH_PATH_ANNOTATION
        return EndpointProblem(f"annotation {missing} is missing: the deep readiness endpoint needs both")
    port: int | str
    if port_text.strip().isdigit():
        port = int(port_text)
        if not 1 <= port <= 65535:
            return EndpointProblem(f"annotation {HEALTH_PORT_ANNOTATION}={port_text!r} is not a port (1-65535)")
    elif _PORT_NAME.match(port_text.strip()):
        port = port_text.strip()
    else:
        return EndpointProblem(f"annotation {HEALTH_PORT_ANNOTATION}={port_text!r} is neither a number nor a port name")
    if not path.startswith("/"):
        return EndpointProblem(f"annotation {HEALTH_PATH_ANNOTATION}={path!r} must start with /")
    return HealthEndpoint(port, path)


def known_endpoint(workload: Workload) -> tuple[HealthEndpoint | None, ContainerRef | None, str | None]:
    """The deep readiness endpoint, the container serving it, and a problem with the annotations if any.

    The mounted configuration comes first (`monitor fail` or `http-request return` health frontend); the
    annotations are for when it cannot be read from there.
    """
    for mounted in workload.configs:
        found = mounted.configmap.facts.health_endpoint
        if found is not None:
            return HealthEndpoint(found.port, found.path), mounted.mount.container, None
    endpoint = annotated_endpoint(workload)
    if isinstance(endpoint, EndpointProblem):
        return None, None, endpoint.message
    if endpoint is None:
        return None, None, None
    target = serving_container(workload, endpoint)
    if target is None:
        return (
            endpoint,
            None,
            f"annotation {HEALTH_PORT_ANNOTATION} names port {endpoint.port!r}, which no HAProxy container declares",
        )
    return endpoint, target, None


def serving_container(workload: Workload, endpoint: HealthEndpoint) -> ContainerRef | None:
    """The HAProxy container that serves the endpoint: the one declaring its port, else the first one.

    A named port must be declared (the kubelet resolves names per container), so there is no fallback.
    """
    for ref in workload.haproxy_containers:
        if _declares_port(ref.container, endpoint.port):
            return ref
    if isinstance(endpoint.port, str):
        return None
    return workload.haproxy_containers[0]
