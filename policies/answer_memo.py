"""Recognising a workload the engine answered before: its fingerprint, what the answer read from the cluster,
and a bounded memo of answers.

A CI system rolling HAProxy Deployments sends the webhook the same manifest again and again with a new
name, new labels and a new image tag; `kubectl rollout restart` (and the restarts GitOps tools send) change
only the value of one pod template annotation (`kubectl.kubernetes.io/restartedAt`). The policies read none
of those: they read the pod spec, the pod template's labels (only the PodDisruptionBudget check, and no fix),
of each image only whether it is an HAProxy image (`is_haproxy_image`) and its branch (`image_version`), and
of the annotations (the object's and the pod template's) the values of ours (`haproxy-guard.io/...`) but of
any other only whether it is there with a string value (a chart's `checksum/...`, a reloader's, the mirror
Pod's); the name and namespace a finding reports are taken from the object, never from what a policy says.
The fingerprint is the object's JSON with exactly those parts left out or replaced by what is read from
them, so two objects with one fingerprint get the same patch from `engine.mutate` and the same findings
(but for the object's name) from `engine.check`. `tests/policies/test_answer_memo.py` checks this against the engine itself on
every golden input, varied in every left-out part and in parts that are read.

Beyond the object, the engine reads the ConfigMaps a workload mounts and the PodDisruptionBudgets of its
namespace. A `Recorder` notes each of them as the engine is given it; a remembered answer is reused only
while the sources still give the very same objects (`still_current`): the webhook's sources keep what they
read for their cache's lifetime, so a changed ConfigMap or PDB, once re-read, is a new object and the
workload is answered afresh. Objects over `MAX_KEY_BYTES` (or holding what JSON cannot encode) get no
fingerprint and are always answered afresh.
"""

from __future__ import annotations

import threading
from typing import Any, Final, Generic, TypeVar

import orjson

from haproxy_guard.policies.context import Context
from haproxy_guard.policies.model.images import is_haproxy_image
from haproxy_guard.policies.model.mounts import image_version
from haproxy_guard.policies.model.objects import ANNOTATION_PREFIX, Object
from haproxy_guard.policies.model.workload import pod_spec_of

UNREAD_METADATA: Final = frozenset(
    {"name", "generateName", "labels", "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"}
)
"""The workload's own metadata no policy reads (they read and write its annotations only)."""
UNREAD_METADATA_BUT_NAME: Final = UNREAD_METADATA - {"name"}
"""The same when the name is read (to find the workload's HorizontalPodAutoscaler): made once, not per request."""
READ_ANNOTATION_PREFIX: Final = ANNOTATION_PREFIX
"""The annotations whose values policies read; of every other one only its key and that its value is a string."""
UNREAD_VALUE: Final = ""
CONTAINER_LISTS: Final = ("containers", "initContainers", "ephemeralContainers")
MAX_KEY_BYTES: Final = 64 * 1024
"""Larger objects are rare and answered afresh: a memo holds at most `MAX_ENTRIES` keys of this size (16 MiB)."""
MAX_ENTRIES: Final = 256
IDLE_AFTER: Final = 64
"""Lookups in a row that found nothing, after which a memo is idle: a stream of objects that are all
different (each with a new annotation, say) would otherwise pay for a fingerprint (about 4 us) and an
entry on every request, a tenth of a `/mutate`. An idle memo is consulted for one request in
`PROBE_EVERY`, and is busy again at its first find."""
PROBE_EVERY: Final = 16

_Value = TypeVar("_Value")
Read = tuple[str, tuple[Any, ...], Any]
"""What the engine was given: (source, its arguments, what it gave): ("configmap", (namespace, name), the
ConfigMap or None), ("pdbs", (namespace,), the PodDisruptionBudgets or None), ("service", (namespace, name),
the Service or None), ("autoscaler", (namespace, kind, name), the HorizontalPodAutoscaler or None)."""


def _containers(value: Any, image_patterns: tuple[str, ...]) -> Any:
    """The container list with each image replaced by what the engine reads from it."""
    if not isinstance(value, list):
        return value
    replaced: list[Any] = []
    for container in value:
        image = container.get("image") if isinstance(container, dict) else None
        if isinstance(image, str):
            replaced.append({**container, "image": [is_haproxy_image(image, image_patterns), image_version(image)]})
        else:
            replaced.append(container)
    return replaced


def _annotations(value: Any) -> Any:
    """Annotations with every value no policy reads replaced by `UNREAD_VALUE` (kept when it is not a string:
    `string_annotations` drops those, so their type is read)."""
    if not isinstance(value, dict):
        return value
    return {
        key: item
        if not isinstance(item, str) or not isinstance(key, str) or key.startswith(READ_ANNOTATION_PREFIX)
        else UNREAD_VALUE
        for key, item in value.items()
    }


def _metadata(metadata: Any, drop: frozenset[str]) -> Any:
    """A metadata mapping without the keys in `drop`, its annotations projected."""
    if not isinstance(metadata, dict):
        return metadata
    kept = {key: item for key, item in metadata.items() if key not in drop}
    if "annotations" in kept:
        kept["annotations"] = _annotations(kept["annotations"])
    return kept


_POD_LABELS: Final = frozenset({"labels"})


def _projected(value: Any, rest: tuple[str, ...], image_patterns: tuple[str, ...], pod_labels: bool) -> Any:
    """`value` with the pod spec at `rest` below it projected (copies along the way, the rest shared)."""
    if not isinstance(value, dict):
        return value
    copy = dict(value)
    if not rest:
        for key in CONTAINER_LISTS:
            if key in copy:
                copy[key] = _containers(copy[key], image_patterns)
        return copy
    if rest == ("spec",) and "metadata" in copy:  # a pod template
        copy["metadata"] = _metadata(copy["metadata"], frozenset() if pod_labels else _POD_LABELS)
    copy[rest[0]] = _projected(copy.get(rest[0]), rest[1:], image_patterns, pod_labels)
    return copy


def fingerprint(
    obj: Object,
    namespace: str | None,
    operation: str,
    image_patterns: tuple[str, ...],
    *,
    pod_labels: bool = False,
    name: bool = False,
) -> bytes | None:
    """Equal for two objects the engine answers alike, given the same reads (`pod_labels`: keep the pod
    template's labels, which checks read and fixes do not; `name`: keep the object's name, which the engine
    reads when it looks up the workload's HorizontalPodAutoscaler); None for an object that is not a supported
    workload kind, too large or not encodable."""
    found = pod_spec_of(obj)
    if found is None:
        return None
    projected = _projected(obj, found[0], image_patterns, pod_labels)
    if "metadata" in projected:
        projected["metadata"] = _metadata(projected["metadata"], UNREAD_METADATA_BUT_NAME if name else UNREAD_METADATA)
    try:
        key = orjson.dumps([namespace, operation, pod_labels, projected])
    except (orjson.JSONEncodeError, TypeError):
        return None
    return key if len(key) <= MAX_KEY_BYTES else None


class Recorder:
    """`context` with its cluster sources noting everything they give (`reads`); `context` is what the engine
    is given."""

    def __init__(self, around: Context) -> None:
        self.around = around
        self.reads: list[Read] = []
        self.context = Context(
            around.validator,
            self._configmap if around.configmaps is not None else None,
            self._pdbs if around.pdbs is not None else None,
            self._service if around.services is not None else None,
            self._autoscaler if around.autoscalers is not None else None,
        )

    def _configmap(self, namespace: str | None, name: str) -> Object | None:
        assert self.around.configmaps is not None
        found = self.around.configmaps(namespace, name)
        self.reads.append(("configmap", (namespace, name), found))
        return found

    def _pdbs(self, namespace: str | None) -> list[Object] | None:
        assert self.around.pdbs is not None
        found = self.around.pdbs(namespace)
        self.reads.append(("pdbs", (namespace,), found))
        return found

    def _service(self, namespace: str | None, name: str) -> Object | None:
        assert self.around.services is not None
        found = self.around.services(namespace, name)
        self.reads.append(("service", (namespace, name), found))
        return found

    def _autoscaler(self, namespace: str | None, kind: str, name: str) -> Object | None:
        assert self.around.autoscalers is not None
        found = self.around.autoscalers(namespace, kind, name)
        self.reads.append(("autoscaler", (namespace, kind, name), found))
        return found


def _same(now: Any, then: Any) -> bool:
    """The very same object, or lists of the very same objects (a PDB source may build a new list)."""
    if now is then:
        return True
    if isinstance(now, list) and isinstance(then, list) and len(now) == len(then):
        return all(a is b for a, b in zip(now, then, strict=True))
    return False


def _source(context: Context, kind: str) -> Any:
    return {
        "configmap": context.configmaps,
        "pdbs": context.pdbs,
        "service": context.services,
        "autoscaler": context.autoscalers,
    }.get(kind)


def still_current(reads: tuple[Read, ...], context: Context) -> bool:
    """Whether `context`'s sources still give exactly what `reads` noted (the same objects, not equal ones)."""
    for kind, arguments, found in reads:
        source = _source(context, kind)
        if source is None or not _same(source(*arguments), found):
            return False
    return True


class Memo(Generic[_Value]):
    """At most `MAX_ENTRIES` values by fingerprint; the oldest goes first. Safe to share between threads."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: dict[bytes, _Value] = {}
        self._max_entries = max_entries
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self._misses_in_a_row = 0
        self._passed = 0

    def consulted(self) -> bool:
        """Whether to look this request up (and so to fingerprint it): always, but one request in
        `PROBE_EVERY` once the last `IDLE_AFTER` lookups all found nothing."""
        with self._lock:
            if self._misses_in_a_row < IDLE_AFTER:
                return True
            self._passed += 1
            return self._passed % PROBE_EVERY == 0

    def get(self, key: bytes) -> _Value | None:
        with self._lock:
            value = self._entries.get(key)
            if value is None:
                self.misses += 1
                self._misses_in_a_row += 1
            else:
                self.hits += 1
                self._misses_in_a_row = 0
            return value

    def put(self, key: bytes, value: _Value) -> None:
        with self._lock:
            if key not in self._entries and len(self._entries) >= self._max_entries:
                del self._entries[next(iter(self._entries))]
            self._entries[key] = value

    def __len__(self) -> int:
        return len(self._entries)
