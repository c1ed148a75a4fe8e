"""The HAProxy ConfigMaps a workload mounts into its HAProxy containers, resolved through a source.

The webhook's source reads them from the API server, the CLI's from its input documents, and with no
source at all every mounted ConfigMap is "unavailable": the config-aware policies then say so.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from haproxy_guard.policies.haproxy.validator import Validator
from haproxy_guard.policies.model.configmap import ConfigSubject, HAProxyConfigMap, inspect_configmap
from haproxy_guard.policies.model.container_view import ConfigMapSource, ContainerView, container_view
from haproxy_guard.policies.model.images import image_repository
from haproxy_guard.policies.model.mounted import ConfigMount, MountedConfig
from haproxy_guard.policies.model.objects import Object
from haproxy_guard.policies.model.workload import Workload

_VERSION_TAG = re.compile(r"^v?(\d+)\.(\d+)")


def image_version(image: str) -> str | None:
    """`2.8` for `haproxy:2.8-alpine` or `haproxytech/haproxy-debian:2.8.3`; None for `lts` or a digest."""
    reference = image.split("@", 1)[0]
    repository_end = reference.rfind("/")
    tag = reference[reference.rfind(":") + 1 :] if reference.rfind(":") > repository_end else ""
    match = _VERSION_TAG.match(tag)
    return f"{match.group(1)}.{match.group(2)}" if match and image_repository(image) else None


def configmap_volumes(pod_spec: Object) -> dict[str, str]:
    """Volume name -> ConfigMap name, for `configMap` volumes and ConfigMaps in `projected` volumes."""
    volumes: dict[str, str] = {}
    for volume in pod_spec.get("volumes") or []:
        if not isinstance(volume, dict) or not isinstance(volume.get("name"), str):
            continue
        source: Any = volume.get("configMap")
        if isinstance(source, dict) and isinstance(source.get("name"), str):
            volumes[volume["name"]] = source["name"]
        projected: Any = volume.get("projected")
        if isinstance(projected, dict):
            for item in projected.get("sources") or []:
                entry = item.get("configMap") if isinstance(item, dict) else None
                if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                    volumes.setdefault(volume["name"], entry["name"])
    return volumes


def config_mounts(workload: Workload) -> list[ConfigMount]:
    volumes = configmap_volumes(workload.pod_spec)
    mounts = []
    for ref in workload.haproxy_containers:
        if not ref.family.user_config:
            continue  # a controller writes its HAProxy configuration itself: a mounted file is not what runs
        for mount in ref.container.get("volumeMounts") or []:
            if isinstance(mount, dict) and mount.get("name") in volumes and isinstance(mount.get("mountPath"), str):
                sub_path = mount.get("subPath") if isinstance(mount.get("subPath"), str) else None
                mounts.append(ConfigMount(volumes[mount["name"]], ref, mount["mountPath"], sub_path))
    return mounts


NEVER_CONFIG = frozenset({"kube-root-ca.crt"})
"""ConfigMaps Kubernetes puts in every namespace (the API server's CA, projected with service-account tokens):
never an HAProxy configuration, so one the source cannot give is not "unavailable"."""


def attach_configs(
    workload: Workload,
    source: ConfigMapSource | None,
    validator: Validator | None,
    services: Callable[[str | None, str], Object | None] | None = None,
) -> Workload:
    """The workload with the HAProxy ConfigMaps it mounts (and the names of those it could not read), each
    seen as its container sees it (`container_view`: the other volumes, the environment, the command)."""
    mounted: list[MountedConfig] = []
    unavailable: list[str] = []
    views: dict[tuple[str, int], ContainerView] = {}
    for mount in config_mounts(workload):
        if mount.configmap in NEVER_CONFIG:
            continue
        obj = source(workload.namespace, mount.configmap) if source is not None else None
        configmap = inspect_configmap(obj, workload.namespace) if obj is not None else None
        if configmap is None:
            if obj is None and mount.configmap not in unavailable:
                unavailable.append(mount.configmap)
            continue
        ref = mount.container
        if ref.key not in views:
            views[ref.key] = container_view(workload.pod_spec, ref.container, workload.namespace, source)
        version = image_version(str(ref.container.get("image", "")))
        mounted.append(
            MountedConfig(
                mount, ConfigSubject(configmap, validator, version=version, view=views[ref.key], services=services)
            )
        )
    if not mounted and not unavailable:
        return workload
    return workload.evolve(configs=tuple(mounted), unavailable_configs=tuple(unavailable))


MOUNTER_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet"})
"""The workloads whose branches decide a ConfigMap's first branch (`preferred_branch`), for the webhook, the
cluster audit and the file audit alike: a Pod of theirs runs their images, and standalone Pods are left out
(the webhook would have to list every Pod of a namespace on each ConfigMap write)."""


def configuration_versions(workload: Workload) -> dict[str, list[str | None]]:
    """ConfigMap name -> the HAProxy versions (`image_version`) of the containers that mount it as their
    configuration, for the workloads around a ConfigMap (`preferred_branch`)."""
    versions: dict[str, list[str | None]] = {}
    for mount in config_mounts(workload):
        if mount.configmap not in NEVER_CONFIG:
            versions.setdefault(mount.configmap, []).append(
                image_version(str(mount.container.container.get("image", "")))
            )
    return versions


def preferred_branch(
    configmap: HAProxyConfigMap, mounters: Callable[[str | None, str], Sequence[str | None] | None] | None
) -> str | None:
    """The branch to check a ConfigMap alone with first: the one every container that mounts it runs (by
    image tag), when there are such containers and their tags all name the same branch; None otherwise (the
    ConfigMap names its version, nothing mounts it, the workloads cannot be listed, tags disagree or name none)."""
    if configmap.version is not None or mounters is None:
        return None
    versions = set(mounters(configmap.namespace, configmap.name) or ())
    if len(versions) != 1:
        return None
    return next(iter(versions))
