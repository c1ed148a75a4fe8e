"""An HAProxy ConfigMap as one HAProxy container mounts it: which ConfigMap, where, and the subject the
config-aware policies read (its facts and its validation as that container runs it)."""

from __future__ import annotations

from dataclasses import dataclass

from haproxy_guard.policies.model.configmap import ConfigSubject, HAProxyConfigMap
from haproxy_guard.policies.model.objects import ContainerRef


@dataclass(frozen=True, slots=True)
class ConfigMount:
    configmap: str
    container: ContainerRef
    mount_path: str
    sub_path: str | None


@dataclass(frozen=True)
class MountedConfig:
    """An HAProxy ConfigMap as one HAProxy container sees it."""

    mount: ConfigMount
    subject: ConfigSubject

    @property
    def configmap(self) -> HAProxyConfigMap:
        return self.subject.configmap
