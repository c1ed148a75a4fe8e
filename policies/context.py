"""What the engine may consult beyond the object itself: the validator and the objects around it.

The webhook fills it from the API server, the CLI from its input documents, tests from fixtures; any part
left None is "unknown", and the policies that need it say so or stand aside.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from haproxy_guard.policies.haproxy.validator import Validator
from haproxy_guard.policies.model.container_view import ConfigMapSource
from haproxy_guard.policies.model.objects import Object

PdbSource = Callable[[str | None], list[Object] | None]
"""namespace -> the PodDisruptionBudgets there, or None when they cannot be listed."""
ServiceSource = Callable[[str | None, str], Object | None]
"""(namespace, name) -> the Service, or None when it does not exist or cannot be read."""
AutoscalerSource = Callable[[str | None, str, str], Object | None]
"""(namespace, kind, name) -> the HorizontalPodAutoscaler that scales that workload, or None."""
MounterSource = Callable[[str | None, str], Sequence[str | None] | None]
"""(namespace, ConfigMap name) -> the HAProxy versions (`image_version`, None for a tag that names none) of the
containers that mount it as their configuration, or None when the workloads cannot be listed."""


@dataclass(frozen=True)
class Context:
    validator: Validator | None = None
    configmaps: ConfigMapSource | None = None
    pdbs: PdbSource | None = None
    services: ServiceSource | None = None
    autoscalers: AutoscalerSource | None = None
    mounters: MounterSource | None = None


EMPTY_CONTEXT = Context()
