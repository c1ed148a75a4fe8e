"""Facts read from a live API server: today only its version (which preStop form the cluster supports).

Tries the in-cluster service account first, then a kubeconfig; any failure means "unknown", logged once,
because the webhook must start even when the API server is briefly unreachable.
"""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger(__name__)


def api_client() -> Any | None:
    """A configured kubernetes ApiClient (in-cluster, else kubeconfig), or None."""
    from kubernetes import client, config  # noqa: PLC0415  (slow import, only when needed)

    try:
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config()  # type: ignore[no-untyped-call]
        else:
            # KUBECONFIG is read now, not when the kubernetes package was imported
            config.load_kube_config(config_file=os.environ.get("KUBECONFIG") or None)  # type: ignore[no-untyped-call]
    except (config.ConfigException, OSError, TypeError, ValueError) as error:
        log.info("no Kubernetes API configuration found (%s)", error)
        return None
    return client.ApiClient()


def discover_kubernetes_version(api: Any | None, timeout: float = 3.0) -> str | None:
    """The API server's gitVersion (e.g. v1.31.2), or None without a client or when it cannot be read
    within `timeout`."""
    if api is None:
        return None
    from kubernetes import client  # noqa: PLC0415

    try:
        info = client.VersionApi(api).get_code(_request_timeout=timeout)
    except Exception as error:
        log.warning("could not read the Kubernetes version: %s", error)
        return None
    version = str(info.git_version)
    log.info("Kubernetes API server version %s", version)
    return version
