"""Recognising a workload that needs the same change as one fixed before: its fingerprint, and a bounded memo.

A CI system rolling HAProxy Deployments sends the webhook the same manifest again and again with a new
name, new labels and a new image tag. The fixes read none of those: they read the pod spec, the annotations
and, of each image, only whether it is an HAProxy image (`is_haproxy_image`) and its branch
(`image_version`). The fingerprint is the object's JSON with exactly those parts left out or replaced by
what is read from them, so two objects with one fingerprint get the same patch, the same list of fixing
policies and the same opt-out finding from `engine.mutate`. `tests/policies/test_mutation_memo.py` checks
this against the engine itself on every golden input, varied in every left-out part.

The fixes also read the ConfigMaps the workload mounts (the config hash, the health endpoint), and nothing
else from the cluster. A `RecordingSource` notes each ConfigMap the engine was given while fixing; a
remembered answer is reused only while the source still gives the very same objects (`still_current`):
the webhook's source keeps each ConfigMap for its cache's lifetime, so a changed ConfigMap, once re-read,
is a new object and the workload is fixed afresh. Objects over `MAX_KEY_BYTES` (or holding what JSON
cannot encode) get no fingerprint and are always fixed afresh.
"""

from __future__ import annotations

import threading
from typing import Any, Final, Generic, TypeVar

import orjson

from haproxy_guard.policies.model.container_view import ConfigMapSource
from haproxy_guard.policies.model.images import is_haproxy_image
from haproxy_guard.policies.model.mounts import image_version
from haproxy_guard.policies.model.objects import Object
from haproxy_guard.policies.model.workload import pod_spec_of

UNREAD_METADATA: Final = frozenset(
    {"name", "generateName", "labels", "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"}
)
"""The workload's own metadata no fix reads (they read and write its annotations only)."""
CONTAINER_LISTS: Final = ("containers", "initContainers", "ephemeralContainers")
MAX_KEY_BYTES: Final = 64 * 1024
"""Larger objects are rare and fixed afresh: the memo holds at most `MAX_ENTRIES` keys of this size (16 MiB)."""
MAX_ENTRIES: Final = 256

_Value = TypeVar("_Value")
Read = tuple[str | None, str, Object | None]
"""A ConfigMap the engine was given: namespace, name and the object (None: missing or unreadable)."""


def _containers(value: Any, image_patterns: tuple[str, ...]) -> Any:
    """The container list with each image replaced by what the engine reads from it."""
    if not isinstance(value, list):
        return value
    replaced: list[Any] = []
    for container in value:
        image = container.get("image") if isinstance(container, dict) else None
        if isinstance(image, str):
            container = dict(container)
            container["image"] = [is_haproxy_image(image, image_patterns), image_version(image)]
        replaced.append(container)
    return replaced


def _pod_template(value: Any, rest: tuple[str, ...], image_patterns: tuple[str, ...]) -> Any:
    """`value` with the pod spec at `rest` below it projected (copies along the way, the rest shared)."""
    if not isinstance(value, dict):
        return value
    copy = dict(value)
    if not rest:
        for key in CONTAINER_LISTS:
            if key in copy:
                copy[key] = _containers(copy[key], image_patterns)
        return copy
    if rest[0] == "spec" and isinstance(copy.get("metadata"), dict) and "labels" in copy["metadata"]:
        # the pod template's labels: only a check reads them (PodDisruptionBudgets), no fix
        copy["metadata"] = {key: item for key, item in copy["metadata"].items() if key != "labels"}
    copy[rest[0]] = _pod_template(copy.get(rest[0]), rest[1:], image_patterns)
    return copy


def fingerprint(obj: Object, namespace: str | None, operation: str, image_patterns: tuple[str, ...]) -> bytes | None:
    """Equal for two objects that `engine.mutate` (without cluster context) fixes alike; None for an object
    that is not a supported workload kind, too large or not encodable."""
    found = pod_spec_of(obj)
    if found is None:
        return None
    projected = _pod_template(obj, found[0], image_patterns)
    metadata = projected.get("metadata")
    if isinstance(metadata, dict):
        projected["metadata"] = {key: item for key, item in metadata.items() if key not in UNREAD_METADATA}
    try:
        key = orjson.dumps([namespace, operation, projected])
    except (orjson.JSONEncodeError, TypeError):
        return None
    return key if len(key) <= MAX_KEY_BYTES else None


class RecordingSource:
    """A `ConfigMapSource` that notes every ConfigMap it gives (in `reads`)."""

    def __init__(self, source: ConfigMapSource) -> None:
        self.source = source
        self.reads: list[Read] = []

    def __call__(self, namespace: str | None, name: str) -> Object | None:
        found = self.source(namespace, name)
        self.reads.append((namespace, name, found))
        return found


def still_current(reads: tuple[Read, ...], source: ConfigMapSource | None) -> bool:
    """Whether `source` still gives exactly the objects in `reads` (the same objects, not equal ones)."""
    if not reads:
        return True
    return source is not None and all(source(namespace, name) is found for namespace, name, found in reads)


class Memo(Generic[_Value]):
    """At most `MAX_ENTRIES` values by fingerprint; the oldest goes first. Safe to share between threads."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: dict[bytes, _Value] = {}
        self._max_entries = max_entries
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: bytes) -> _Value | None:
        with self._lock:
            value = self._entries.get(key)
            if value is None:
                self.misses += 1
            else:
                self.hits += 1
            return value

    def put(self, key: bytes, value: _Value) -> None:
        with self._lock:
            if key not in self._entries and len(self._entries) >= self._max_entries:
                del self._entries[next(iter(self._entries))]
            self._entries[key] = value

    def __len__(self) -> int:
        return len(self._entries)
