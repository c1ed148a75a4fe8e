"""Which objects are HAProxy workloads, and a view of one: its pod spec and its HAProxy containers.

The view holds references into the object it was built from, so a fix that edits `pod_spec` or a
container edits that object (the engine always builds it over a private copy).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from haproxy_guard.policies.model.families import IN_HOUSE, container_family
from haproxy_guard.policies.model.findings import json_pointer
from haproxy_guard.policies.model.mounted import MountedConfig
from haproxy_guard.policies.model.objects import (
    CONTAINERS_ANNOTATION,
    MIRROR_ANNOTATION,
    ContainerRef,
    Object,
    object_identity,
    string_annotations,
)
from haproxy_guard.policies.model.patch import json_copy

# Container fields that fixes change inside (deep-copied by `writable_copy`); other fields may be replaced whole.
WRITABLE_CONTAINER_FIELDS = frozenset({"lifecycle", "readinessProbe", "livenessProbe"})

# (apiVersion, kind) -> the path of the pod spec inside the object.
POD_SPEC_PATHS: dict[tuple[str, str], tuple[str, ...]] = {
    ("apps/v1", "Deployment"): ("spec", "template", "spec"),
    ("apps/v1", "StatefulSet"): ("spec", "template", "spec"),
    ("apps/v1", "DaemonSet"): ("spec", "template", "spec"),
    ("v1", "Pod"): ("spec",),
}


@dataclass(slots=True)
class Workload:
    """An HAProxy workload: the object and the parts the policies read and fix.

    Treated as immutable (`evolve` makes changed copies) but not frozen: a frozen dataclass's __init__ costs
    twice as much, and three are made per admission."""

    obj: Object
    api_version: str
    kind: str
    name: str
    namespace: str | None
    annotations: dict[str, str]
    pod_spec: Object
    pod_spec_pointer: str
    haproxy_containers: tuple[ContainerRef, ...]
    configs: tuple[MountedConfig, ...] = ()
    """The HAProxy ConfigMaps its HAProxy containers mount (attached by the engine from a source)."""
    unavailable_configs: tuple[str, ...] = ()
    """Names of mounted ConfigMaps that could not be read: config-aware policies report them."""
    pdbs: tuple[Object, ...] | None = None
    """The PodDisruptionBudgets of its namespace, or None when unknown."""
    static_pod: bool = False
    max_replicas: int | None = None
    """The maxReplicas of a HorizontalPodAutoscaler that scales it (attached by the engine), when known."""
    min_replicas: int | None = None
    """That HorizontalPodAutoscaler's minReplicas (1 when it sets none)."""
    """A static Pod manifest (see `is_static_pod`): the kubelet runs it from a file on the node."""

    def writable_copy(self) -> Workload:
        """The same view over a copy of `obj` in which every place a fix may write is private.

        Private (copied): `metadata` and its annotations, everything in `spec` but the pod template, the
        template's metadata, the pod spec's own fields, the HAProxy containers' own fields and, deeply, their
        `WRITABLE_CONTAINER_FIELDS`. Everything else (other containers, volumes, ports, resources,
        managedFields...) is shared with the original: fixes must not write there, and untouched subtrees
        being the same objects makes the patch diff nearly free.
        The tests check, for every golden input, that mutation leaves the original unchanged.
        """
        obj = dict(self.obj)
        metadata = obj["metadata"] = dict(obj.get("metadata") or {})
        if isinstance(metadata.get("annotations"), dict):
            metadata["annotations"] = dict(metadata["annotations"])
        if self.kind == "Pod":
            pod_spec = obj["spec"] = dict(obj["spec"])
        else:
            spec = obj["spec"] = {
                key: value if key == "template" else json_copy(value) for key, value in obj["spec"].items()
            }
            template = spec["template"] = dict(spec["template"])
            if "metadata" in template:
                template["metadata"] = json_copy(template["metadata"])
            pod_spec = template["spec"] = dict(template["spec"])
        lists = {ref.list_name for ref in self.haproxy_containers}
        copies = {name: list(pod_spec[name]) for name in lists}
        for name, items in copies.items():
            pod_spec[name] = items
        refs: dict[tuple[str, int], ContainerRef] = {}
        for ref in self.haproxy_containers:
            items = copies[ref.list_name]
            items[ref.index] = {
                key: json_copy(value) if key in WRITABLE_CONTAINER_FIELDS else value
                for key, value in items[ref.index].items()
            }
            refs[ref.key] = ContainerRef(ref.index, items[ref.index], ref.pointer, ref.family, ref.list_name)
        configs = tuple(
            replace(mounted, mount=replace(mounted.mount, container=refs[mounted.mount.container.key]))
            for mounted in self.configs
        )
        return self.evolve(obj=obj, pod_spec=pod_spec, haproxy_containers=tuple(refs.values()), configs=configs)

    def evolve(
        self,
        *,
        obj: Object | None = None,
        pod_spec: Object | None = None,
        haproxy_containers: tuple[ContainerRef, ...] | None = None,
        configs: tuple[MountedConfig, ...] | None = None,
        unavailable_configs: tuple[str, ...] | None = None,
        pdbs: tuple[Object, ...] | None = None,
        max_replicas: int | None = None,
        min_replicas: int | None = None,
    ) -> Workload:
        """A copy with some fields changed (`dataclasses.replace` costs several µs on the hot path)."""
        return Workload(
            self.obj if obj is None else obj,
            self.api_version,
            self.kind,
            self.name,
            self.namespace,
            self.annotations,
            self.pod_spec if pod_spec is None else pod_spec,
            self.pod_spec_pointer,
            self.haproxy_containers if haproxy_containers is None else haproxy_containers,
            self.configs if configs is None else configs,
            self.unavailable_configs if unavailable_configs is None else unavailable_configs,
            self.pdbs if pdbs is None else pdbs,
            self.static_pod,
            self.max_replicas if max_replicas is None else max_replicas,
            self.min_replicas if min_replicas is None else min_replicas,
        )

    @property
    def spec(self) -> Object:
        """The top-level `spec` (the pod spec itself for a Pod)."""
        spec = self.obj.get("spec")
        return spec if isinstance(spec, dict) else {}


def _mapping(value: Any) -> Object:
    return value if isinstance(value, dict) else {}


def _named_containers(annotations: dict[str, str]) -> frozenset[str]:
    listed = annotations.get(CONTAINERS_ANNOTATION, "")
    return frozenset(name.strip() for name in listed.split(",") if name.strip())


def is_static_pod(obj: Object, pod_spec: Object, refs: list[ContainerRef]) -> bool:
    """Whether a `v1` Pod is a static Pod manifest (kubeadm's and kubespray's HAProxy load balancers for the
    API server): host network, and either in kube-system or configured from a host path. Static Pods are run
    by the kubelet from a file: no Service endpoint drains from them and nothing rolls them through the API,
    so lifecycle and rollout advice does not apply to them."""
    if obj.get("kind") != "Pod" or pod_spec.get("hostNetwork") is not True:
        return False
    if _mapping(obj.get("metadata")).get("namespace") == "kube-system":
        return True
    host_volumes = {
        volume.get("name")
        for volume in pod_spec.get("volumes") or []
        if isinstance(volume, dict) and isinstance(volume.get("hostPath"), dict)
    }
    return any(
        _mapping(mount).get("name") in host_volumes for ref in refs for mount in ref.container.get("volumeMounts") or []
    )


def pod_spec_of(obj: Object) -> tuple[tuple[str, ...], Object] | None:
    """The path to the pod spec and the pod spec itself, for the supported kinds; None otherwise."""
    path = POD_SPEC_PATHS.get((str(obj.get("apiVersion")), str(obj.get("kind"))))
    if path is None:
        return None
    pod_spec: Any = obj
    for key in path:
        pod_spec = pod_spec.get(key) if isinstance(pod_spec, dict) else None
    return (path, pod_spec) if isinstance(pod_spec, dict) else None


def inspect_workload(
    obj: Object, image_patterns: tuple[str, ...] = (), namespace_hint: str | None = None
) -> Workload | None:
    """A view of `obj` when it is a supported workload with at least one HAProxy container, else None."""
    found = pod_spec_of(obj)
    if found is None:
        return None
    pod_spec_path, pod_spec = found
    containers = pod_spec.get("containers")
    if not isinstance(containers, list):
        return None
    annotations = string_annotations(obj)
    if MIRROR_ANNOTATION in annotations:
        return None  # the API's copy of a static Pod: nothing may change it, and it never rolls through the API
    named = _named_containers(annotations)
    pod_spec_pointer = json_pointer(*pod_spec_path)
    refs: list[ContainerRef] = []
    sidecars = pod_spec.get("initContainers")
    for list_name, items in (
        ("containers", containers),
        ("initContainers", sidecars if isinstance(sidecars, list) else []),
    ):
        for index, container in enumerate(items):
            if not isinstance(container, dict):
                continue
            if list_name == "initContainers" and container.get("restartPolicy") != "Always":
                continue  # a plain init container runs to completion before the pod serves: not a proxy
            family = container_family(container, image_patterns)
            if family is None and container.get("name") in named:
                family = IN_HOUSE
            if family is not None:
                pointer = f"{pod_spec_pointer}/{list_name}/{index}"
                refs.append(ContainerRef(index, container, pointer, family, list_name))
    if not refs:
        return None
    name, namespace = object_identity(obj, namespace_hint)
    return Workload(
        obj=obj,
        api_version=str(obj["apiVersion"]),
        kind=str(obj["kind"]),
        name=name,
        namespace=namespace,
        annotations=annotations,
        pod_spec=pod_spec,
        pod_spec_pointer=pod_spec_pointer,
        haproxy_containers=tuple(refs),
        static_pod=is_static_pod(obj, pod_spec, refs),
    )
