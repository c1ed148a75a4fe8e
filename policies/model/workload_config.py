"""Helpers for the policies that compare a workload with the configuration it mounts."""

from __future__ import annotations

from typing import Any

from haproxy_guard.policies.model.mounted import MountedConfig
from haproxy_guard.policies.model.objects import ContainerRef
from haproxy_guard.policies.model.workload import Workload


def limit(ref: ContainerRef, resource: str) -> Any:
    resources = ref.container.get("resources")
    limits = resources.get("limits") if isinstance(resources, dict) else None
    return limits.get(resource) if isinstance(limits, dict) else None


def configs_of(workload: Workload, ref: ContainerRef) -> list[MountedConfig]:
    return [mounted for mounted in workload.configs if mounted.mount.container.key == ref.key]


def hard_stop_after_seconds(workload: Workload) -> float | None:
    """The longest `hard-stop-after` among the mounted configurations, None when none sets it."""
    values = [m.configmap.facts.hard_stop_after_seconds for m in workload.configs]
    known = [value for value in values if value is not None]
    return max(known) if known else None
