"""HAProxy workloads as teams write them, for the node tests: a ConfigMap (a frontend, a backend that is the
application's Service, a deep readiness endpoint), a ClusterIP Service, and a Deployment, StatefulSet or
DaemonSet of 2 replicas (1 pod per node for the DaemonSet) running the local HAProxy image of a branch, with no
preStop wait, the default grace period and rollout, and a readiness probe that only opens the traffic port.

The application behind them (`backend_objects`) runs in its own namespace, never rolled: its Service has a
fixed address (the node has no DNS). A backend inside the HAProxy that stops would stop with it (a soft-stopped
HAProxy closes every listener, its own loopback ones too), which is not what users run."""

from __future__ import annotations

import copy
from typing import Any

from tests.node.images import haproxy_image

BACKEND_NAMESPACE, BACKEND_IP = "backend", "10.96.200.200"
APP_CFG = """\
global
  maxconn 2000
defaults
  mode http
  timeout client 30s
  timeout server 30s
  timeout connect 2s
frontend app
  bind :8080
  http-request return status 200 content-type text/plain string "hello"
"""

HAPROXY_CFG = """\
global
  maxconn 2000
  hard-stop-after 30s
defaults
  mode http
  timeout client 30s
  timeout server 30s
  timeout connect 2s
  option idle-close-on-response
frontend fe
  bind :8080
  default_backend app
frontend health
  bind :8405
  monitor-uri /healthz
  acl no_servers nbsrv(app) lt 1
  http-request return status 503 content-type text/plain string "not ready" if { path /ready } no_servers || { path /ready } { stopping }
  http-request return status 200 content-type text/plain string "ok" if { path /ready }
backend app
  server app @BACKEND@:80 check inter 1s
""".replace("@BACKEND@", BACKEND_IP)

BROKEN_CFG = HAPROXY_CFG.replace("  default_backend app\n", "  default_backend app\n  bnid :9090\n")
BROKEN_LINE = HAPROXY_CFG.splitlines().index("  default_backend app") + 2


def config_map(name: str, namespace: str, cfg: str = HAPROXY_CFG, labelled: bool = True) -> dict[str, Any]:
    labels = {"haproxy-guard.io/config": "true"} if labelled else {}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": {"haproxy.cfg": cfg},
    }


def service(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
    }


def workload(kind: str, name: str, namespace: str, branch: str, *, skip: bool = False) -> dict[str, Any]:
    """`kind` (Deployment, StatefulSet, DaemonSet) of HAProxy `branch` as written; `skip` opts it out of the
    webhook (`haproxy-guard.io/skip`, on the object and its pod template)."""
    annotations = {"haproxy-guard.io/health-port": "8405", "haproxy-guard.io/health-path": "/ready"}
    template_annotations: dict[str, str] = {}
    if skip:
        annotations["haproxy-guard.io/skip"] = "true"
        template_annotations["haproxy-guard.io/skip"] = "true"
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}, "annotations": template_annotations},
            "spec": {
                "enableServiceLinks": False,
                "containers": [
                    {
                        "name": "haproxy",
                        "image": haproxy_image(branch),
                        "imagePullPolicy": "Never",
                        "ports": [
                            {"name": "http", "containerPort": 8080},
                            {"name": "health", "containerPort": 8405},
                        ],
                        "readinessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 2},
                        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "256Mi"}},
                        "volumeMounts": [{"name": "config", "mountPath": "/usr/local/etc/haproxy"}],
                    }
                ],
                "volumes": [{"name": "config", "configMap": {"name": name}}],
            },
        },
    }
    if kind != "DaemonSet":
        spec["replicas"] = 2
    if kind == "StatefulSet":
        spec["serviceName"] = name
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
        "spec": copy.deepcopy(spec),
    }


def backend_objects() -> list[dict[str, Any]]:
    """The application: 2 HAProxy pods answering 200, behind a Service at BACKEND_IP, in a namespace the
    webhook ignores."""
    ns = BACKEND_NAMESPACE
    app = workload("Deployment", "app", ns, "3.2")
    app["metadata"]["annotations"] = {}
    container = app["spec"]["template"]["spec"]["containers"][0]
    container["ports"], container["readinessProbe"] = (
        [{"name": "http", "containerPort": 8080}],
        {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
    )
    app["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"] = "app"
    app_service = service("app", ns)
    app_service["spec"]["clusterIP"] = BACKEND_IP
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": ns, "labels": {"haproxy-guard.io/ignore": "true"}},
        },
        config_map("app", ns, APP_CFG, labelled=False),
        app_service,
        app,
    ]
