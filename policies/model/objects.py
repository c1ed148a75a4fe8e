"""Kubernetes objects as the policies see them: plain JSON mappings, their identity and annotations, and a
reference to one container inside a pod spec. No policy logic; imported by every model module."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from haproxy_guard.policies.model.families import HAPROXY, Family

Object = dict[str, Any]

ANNOTATION_PREFIX = "haproxy-guard.io/"
CONTAINERS_ANNOTATION = ANNOTATION_PREFIX + "containers"
SKIP_ANNOTATION = ANNOTATION_PREFIX + "skip"
HEALTH_PORT_ANNOTATION = ANNOTATION_PREFIX + "health-port"
HEALTH_PATH_ANNOTATION = ANNOTATION_PREFIX + "health-path"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
"""Set by the kubelet on the API's copy of a static Pod: the object cannot be changed through the API."""


@dataclass(frozen=True, slots=True)
class ContainerRef:
    """One HAProxy container: its index in its list, the container itself, its JSON pointer and its HAProxy
    family (how it stops, where its configuration comes from)."""

    index: int
    container: Object
    pointer: str
    family: Family = HAPROXY
    list_name: str = "containers"
    """`containers`, or `initContainers` for a native sidecar (an init container with `restartPolicy: Always`)."""

    @property
    def key(self) -> tuple[str, int]:
        """Where it sits in the pod spec: unique among the pod's containers."""
        return self.list_name, self.index

    @property
    def name(self) -> str:
        return str(self.container.get("name", f"#{self.index}"))


def _mapping(value: Any) -> Object:
    return value if isinstance(value, dict) else {}


def object_identity(obj: Object, namespace_hint: str | None = None) -> tuple[str, str | None]:
    """The name (or generateName) and namespace of an object, as findings report them."""
    metadata = _mapping(obj.get("metadata"))
    name = metadata.get("name") or metadata.get("generateName") or ""
    namespace = metadata.get("namespace") or namespace_hint
    return str(name), (str(namespace) if namespace else None)


def string_annotations(obj: Object) -> dict[str, str]:
    """`metadata.annotations`, keeping only string values (anything else is not a valid annotation)."""
    annotations = _mapping(_mapping(obj.get("metadata")).get("annotations"))
    return {str(key): value for key, value in annotations.items() if isinstance(value, str)}
