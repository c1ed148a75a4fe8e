"""With the rollout controller off, a ConfigMap update warns which workloads keep the previous configuration.

`ClusterStaleWorkloads` lists the HAProxy Deployments, StatefulSets and DaemonSets of a namespace (short
timeout, small cache) and answers which mount a given ConfigMap (the engine's notion of a configuration mount,
`rollouts.index.mounted_configmaps`); `stale_warning` words the warning. A list that fails says nothing: the
warning is advice, never a reason to refuse the write.
"""

from __future__ import annotations

import json
from typing import Any

from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.webhook.configmaps import TtlCache
from haproxy_guard.webhook.rollouts.index import WORKLOAD_KINDS, mounted_configmaps

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
        self._cache: TtlCache[list[tuple[str, str, list[str]]]] = TtlCache(ttl_seconds)

    def _mounts(self, namespace: str) -> list[tuple[str, str, list[str]]] | None:
        def load() -> list[tuple[str, str, list[str]]]:
            found = []
            for kind in WORKLOAD_KINDS:
                listed = getattr(self._apps, f"list_namespaced_{_PLURAL[kind]}")(
                    namespace, _preload_content=False, _request_timeout=self.timeout_seconds
                )
                for item in json.loads(listed.data).get("items") or []:
                    item["kind"], item["apiVersion"] = kind, "apps/v1"  # a list's items carry neither
                    if mounted := mounted_configmaps(item, self.settings):
                        found.append((kind, str(item["metadata"]["name"]), mounted))
            return found

        return self._cache.get(namespace, load, f"workloads of {namespace}")

    def __call__(self, namespace: str, configmap: str) -> list[str]:
        return [f"{kind}/{name}" for kind, name, mounted in self._mounts(namespace) or [] if configmap in mounted]


def stale_warning(namespace: str, configmap: str, workloads: list[str]) -> str:
    first = workloads[0].split("/", 1)
    return (
        f"[config-hash] ConfigMap {namespace}/{configmap} changed and the rollout controller is off "
        f"(rolloutController.enabled: false): {', '.join(workloads)} keep{'s' if len(workloads) == 1 else ''} "
        f"running the previous configuration until rolled (kubectl rollout restart {first[0].lower()}/{first[1]} "
        f"-n {namespace}, or apply the workload again)"
    )
