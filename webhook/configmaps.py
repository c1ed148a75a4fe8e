"""The webhook's view of the objects around a workload: mounted ConfigMaps and the namespace's
PodDisruptionBudgets, read from the API server with a short timeout and a small cache.

Each is read once per `ttl_seconds` (default 10 s: a changed ConfigMap is picked up at the next read, and
its own admission was validated anyway); a read that fails or times out counts as "unavailable", so the
config-aware policies say so rather than block the write. `forget` drops a namespace's ConfigMaps: the
webhook reads them again before it would overwrite a `config-hash` the object already carries (the rollout
controller writes one from the API server's state, which a cached read must never undo).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)
Value = TypeVar("Value")
MAX_ENTRIES = 4096


class TtlCache(Generic[Value]):
    """Values by key for `ttl_seconds`, failures included (cached as None), thread-safe."""

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl_seconds = ttl_seconds
        self._entries: dict[Hashable, tuple[float, Value | None]] = {}
        self._lock = threading.Lock()

    def forget(self, matches: Callable[[Hashable], bool]) -> None:
        with self._lock:
            for key in [key for key in self._entries if matches(key)]:
                del self._entries[key]

    def get(self, key: Hashable, load: Callable[[], Value], what: str) -> Value | None:
        now = time.monotonic()
        with self._lock:
            cached = self._entries.get(key)
            if cached is not None and now - cached[0] < self.ttl_seconds:
                return cached[1]
        value: Value | None
        try:
            value = load()
        except Exception as error:
            log.info("%s unavailable: %s", what, getattr(error, "reason", None) or error)
            value = None
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = (now, value)
        return value


class ClusterConfigMaps:
    """Callable as a `ConfigMapSource`: (namespace, name) -> the ConfigMap as a dict, or None."""

    def __init__(self, api_client: Any, timeout_seconds: float = 1.0, ttl_seconds: float = 10.0) -> None:
        from kubernetes import client  # noqa: PLC0415

        self._api = client.CoreV1Api(api_client)
        self._serialize = api_client.sanitize_for_serialization
        self.timeout_seconds = timeout_seconds
        self._cache: TtlCache[dict[str, Any]] = TtlCache(ttl_seconds)

    def __call__(self, namespace: str | None, name: str) -> dict[str, Any] | None:
        key = (namespace or "default", name)

        def load() -> dict[str, Any]:
            found = self._api.read_namespaced_config_map(name, key[0], _request_timeout=self.timeout_seconds)
            value: dict[str, Any] = self._serialize(found)
            return value

        return self._cache.get(key, load, f"ConfigMap {key[0]}/{name}")

    def forget(self, namespace: str | None) -> None:
        """Drop what is cached of `namespace`: its next reads go to the API server."""
        wanted = namespace or "default"
        self._cache.forget(lambda key: isinstance(key, tuple) and key[0] == wanted)


class ClusterPdbs:
    """Callable as a `PdbSource`: namespace -> its PodDisruptionBudgets as dicts, or None (a PDB created right
    after its Deployment is seen on the next admission)."""

    def __init__(self, api_client: Any, timeout_seconds: float = 1.0, ttl_seconds: float = 10.0) -> None:
        from kubernetes import client  # noqa: PLC0415

        self._api = client.PolicyV1Api(api_client)
        self._serialize = api_client.sanitize_for_serialization
        self.timeout_seconds = timeout_seconds
        self._cache: TtlCache[list[dict[str, Any]]] = TtlCache(ttl_seconds)

    def __call__(self, namespace: str | None) -> list[dict[str, Any]] | None:
        key = namespace or "default"

        def load() -> list[dict[str, Any]]:
            found = self._api.list_namespaced_pod_disruption_budget(key, _request_timeout=self.timeout_seconds)
            return [self._serialize(item) for item in found.items]

        return self._cache.get(key, load, f"PodDisruptionBudgets of {key}")
