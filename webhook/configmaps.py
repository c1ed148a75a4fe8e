"""The webhook's source of mounted ConfigMaps: the API server, with a short timeout and a small cache.

A workload's admission may need the ConfigMaps it mounts. Each is read once per `ttl_seconds` (default
10 s; a changed ConfigMap is picked up at the next read, and its own admission was validated anyway);
a read that fails or times out counts as "unavailable", so the config-aware policies say so rather than
block the write.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

log = logging.getLogger(__name__)


class ClusterConfigMaps:
    """Callable as a `ConfigMapSource`: (namespace, name) -> the ConfigMap as a dict, or None."""

    def __init__(self, api_client: Any, timeout_seconds: float = 1.0, ttl_seconds: float = 10.0) -> None:
        from kubernetes import client  # noqa: PLC0415

        self._api = client.CoreV1Api(api_client)
        self._serialize = api_client.sanitize_for_serialization
        self.timeout_seconds, self.ttl_seconds = timeout_seconds, ttl_seconds
        self._cache: dict[tuple[str, str], tuple[float, dict[str, Any] | None]] = {}
        self._lock = threading.Lock()

    def __call__(self, namespace: str | None, name: str) -> dict[str, Any] | None:
        key = (namespace or "default", name)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and now - cached[0] < self.ttl_seconds:
                return cached[1]
        try:
            found = self._api.read_namespaced_config_map(name, key[0], _request_timeout=self.timeout_seconds)
            value: dict[str, Any] | None = self._serialize(found)
        except Exception as error:
            log.info("ConfigMap %s/%s unavailable: %s", key[0], name, getattr(error, "reason", error))
            value = None
        with self._lock:
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[key] = (now, value)
        return value


class ClusterPdbs:
    """Callable as a `PdbSource`: namespace -> its PodDisruptionBudgets as dicts, or None; cached like
    ConfigMaps (a PDB created right after its Deployment is seen on the next admission)."""

    def __init__(self, api_client: Any, timeout_seconds: float = 1.0, ttl_seconds: float = 10.0) -> None:
        from kubernetes import client  # noqa: PLC0415

        self._api = client.PolicyV1Api(api_client)
        self._serialize = api_client.sanitize_for_serialization
        self.timeout_seconds, self.ttl_seconds = timeout_seconds, ttl_seconds
        self._cache: dict[str, tuple[float, list[dict[str, Any]] | None]] = {}
        self._lock = threading.Lock()

    def __call__(self, namespace: str | None) -> list[dict[str, Any]] | None:
        key = namespace or "default"
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and now - cached[0] < self.ttl_seconds:
                return cached[1]
        try:
            found = self._api.list_namespaced_pod_disruption_budget(key, _request_timeout=self.timeout_seconds)
            value: list[dict[str, Any]] | None = [self._serialize(item) for item in found.items]
        except Exception as error:
            log.info("PodDisruptionBudgets of %s unavailable: %s", key, getattr(error, "reason", error))
            value = None
        with self._lock:
            self._cache[key] = (now, value)
        return value
