"""Which HAProxy workloads mount which ConfigMaps: the rollout controller's only state, rebuilt from the API
server's lists (never kept across restarts).

A workload counts when the engine sees an HAProxy container in it that reads a configuration file its users
write (`mounts.config_mounts`: controllers that write their own configuration mount none that counts).
"""

from __future__ import annotations

import threading
from typing import Any

from haproxy_guard.policies.model.mounts import configuration_versions
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.workload import inspect_workload

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
WorkloadKey = tuple[str, str, str]
"""(kind, namespace, name)"""


def mounted_configmaps(obj: dict[str, Any], settings: Settings) -> list[str]:
    """The names of the HAProxy ConfigMaps a workload's HAProxy containers read their configuration from."""
    metadata = obj.get("metadata") or {}
    workload = inspect_workload(obj, settings.image_patterns, metadata.get("namespace"))
    if workload is None:
        return []
    return sorted(configuration_versions(workload))


def key_of(obj: dict[str, Any]) -> WorkloadKey:
    metadata = obj.get("metadata") or {}
    return (str(obj.get("kind")), str(metadata.get("namespace")), str(metadata.get("name")))


class MountIndex:
    """workload -> the ConfigMaps it mounts, and back; thread-safe."""

    def __init__(self) -> None:
        self._mounts: dict[WorkloadKey, frozenset[str]] = {}
        self._readers: dict[tuple[str, str], set[WorkloadKey]] = {}
        self._lock = threading.Lock()

    def update(self, key: WorkloadKey, configmaps: list[str]) -> None:
        """Record what `key` mounts now (nothing: forget it)."""
        namespace = key[1]
        with self._lock:
            for name in self._mounts.pop(key, frozenset()):
                readers = self._readers.get((namespace, name))
                if readers is not None:
                    readers.discard(key)
                    if not readers:
                        del self._readers[(namespace, name)]
            if configmaps:
                self._mounts[key] = frozenset(configmaps)
                for name in configmaps:
                    self._readers.setdefault((namespace, name), set()).add(key)

    def readers(self, namespace: str, configmap: str) -> list[WorkloadKey]:
        """The workloads that mount ConfigMap `namespace/configmap`."""
        with self._lock:
            return sorted(self._readers.get((namespace, configmap), ()))

    def keys(self) -> list[WorkloadKey]:
        with self._lock:
            return sorted(self._mounts)

    def __len__(self) -> int:
        with self._lock:
            return len(self._mounts)
