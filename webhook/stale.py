"""The HAProxy workloads of a namespace that mount a ConfigMap, listed from the API server on a ConfigMap write.

`ClusterStaleWorkloads` lists the HAProxy Deployments, StatefulSets and DaemonSets of a namespace (short
timeout, small cache) and answers which mount a given ConfigMap (the engine's notion of a configuration mount,
`mounts.config_mounts`) and with which HAProxy versions (`mounters`, the engine's `Context.mounters`: a
ConfigMap is checked first with its pods' branch). With the rollout controller off, a ConfigMap update warns
which workloads keep the previous configuration; `stale_warning` words the warning. A list that fails says
nothing: the warning is advice, never a reason to refuse the write, and the branch order is only an order.
"""

from __future__ import annotations

import json
from typing import Any

from haproxy_guard.policies.model.mounts import configuration_versions
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.workload import inspect_workload
from haproxy_guard.webhook.configmaps import TtlCache
from haproxy_guard.webhook.rollouts.index import WORKLOAD_KINDS

_Mounting = tuple[str, str, dict[str, list[str | None]]]
"""(kind, name, ConfigMap name -> the versions of the containers mounting it)"""
_PLURAL = {"Deployment": "deployment", "StatefulSet": "stateful_set", "DaemonSet": "daemon_set"}


class ClusterStaleWorkloads:
    """Callable: (namespace, ConfigMap name) -> ["Deployment/edge", ...], the HAProxy workloads mounting it."""

    def __init__(
        self, api_client: Any, settings: Settings, timeout_seconds: float = 1.0, ttl_seconds: float = 5.0
    ) -> None:
        from kubernetes import client  # noqa: PLC0415

        self._apps = client.AppsV1Api(api_client)
        self.settings = settings
        self.timeout_seconds = timeout_seconds
        self._cache: TtlCache[list[_Mounting]] = TtlCache(ttl_seconds)
        self._branches: TtlCache[list[_Mounting]] = TtlCache(ttl_seconds)
        """Lists taken for `mounters` (on every ConfigMap write), apart from the stale warning's (on updates):
        a list taken when a ConfigMap was created just ahead of its workload must not hide that workload from
        the warning on the update that follows."""

    def _mounts(self, namespace: str, cache: TtlCache[list[_Mounting]] | None = None) -> list[_Mounting] | None:
        def load() -> list[_Mounting]:
            found = []
            for kind in WORKLOAD_KINDS:
                listed = getattr(self._apps, f"list_namespaced_{_PLURAL[kind]}")(
                    namespace, _preload_content=False, _request_timeout=self.timeout_seconds
                )
                for item in json.loads(listed.data).get("items") or []:
                    item["kind"], item["apiVersion"] = kind, "apps/v1"  # a list's items carry neither
                    workload = inspect_workload(item, self.settings.image_patterns, namespace)
                    if workload is not None and (versions := configuration_versions(workload)):
                        found.append((kind, str(item["metadata"]["name"]), versions))
            return found

        return (cache or self._cache).get(namespace, load, f"workloads of {namespace}")

    def __call__(self, namespace: str, configmap: str) -> list[str]:
        return [f"{kind}/{name}" for kind, name, mounted in self._mounts(namespace) or [] if configmap in mounted]

    def mounters(self, namespace: str | None, configmap: str) -> list[str | None] | None:
        """The HAProxy versions of the containers that mount the ConfigMap (`Context.mounters`), or None when
        the namespace's workloads cannot be listed."""
        mounts = self._mounts(namespace or "default", self._branches)
        if mounts is None:
            return None
        return [version for _, _, mounted in mounts for version in mounted.get(configmap, ())]


def stale_warning(namespace: str, configmap: str, workloads: list[str]) -> str:
    first = workloads[0].split("/", 1)
    return (
        f"[config-hash] ConfigMap {namespace}/{configmap} changed and the rollout controller is off "
        f"(rolloutController.enabled: false): {', '.join(workloads)} keep{'s' if len(workloads) == 1 else ''} "
        f"running the previous configuration until rolled (kubectl rollout restart {first[0].lower()}/{first[1]} "
        f"-n {namespace}, or apply the workload again)"
    )
