"""The audit benchmark's corpus: HAProxy releases as `helm template` writes them, beside unrelated workloads.

`write(folder, releases=1000, others=500, configs=50)` writes into one folder (the Kyverno CLI does not
recurse) one file per release (a ConfigMap with
`haproxy.cfg`, a Deployment that mounts it, a Service) and one file per 50 unrelated Deployments. Release `i`
uses configuration `i % configs` and the HAProxy branch that configuration is written for, so `configs`
distinct `haproxy -c` checks cover the whole corpus, as in a fleet where many releases share a chart's
configuration. Half the releases are written as teams write them (no preStop wait, default rollout, a
readiness probe on the traffic port), half already hardened, and every tenth one carries a defect
(`Recreate`, or a grace period shorter than its wait), so every tool has findings to report. The output is
deterministic: the same arguments write the same bytes.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

IMAGES = ("haproxy:2.8", "haproxytech/haproxy-alpine:3.0", "haproxy:3.2-alpine", "haproxy:2.6")
OTHER_IMAGES = ("nginx:1.27", "ghcr.io/example/api:1.4.2", "redis:7.2", "busybox:1.36")


def configuration(index: int) -> str:
    """Configuration `index`: a different number of frontends, ACLs, backends and servers for each."""
    backends = 1 + index % 12
    servers = 1 + (index * 7) % 9
    lines = [
        "global",
        f"  maxconn {2000 + 100 * index}",
        "  hard-stop-after 30s",
        "",
        "defaults",
        "  mode http",
        "  timeout client 30s",
        "  timeout server 30s",
        "  timeout connect 5s",
        "  option idle-close-on-response",
        "  option httplog",
        "",
        "frontend health",
        "  bind :8405",
        "  monitor-uri /ready",
        "  acl down nbsrv(app0) lt 1",
        "  monitor fail if down",
        "",
        "frontend www",
        "  bind :8080",
        f"  http-request set-header X-Release cfg-{index}",
    ]
    for backend in range(backends):
        lines.append(f"  acl is_app{backend} path_beg /app{backend}/")
        lines.append(f"  use_backend app{backend} if is_app{backend}")
    lines.append("  default_backend app0")
    for backend in range(backends):
        lines += ["", f"backend app{backend}", "  balance roundrobin", "  option httpchk GET /health"]
        for server in range(servers):
            lines.append(f"  server s{server} 10.{index}.{backend}.{server + 1}:8080 check inter 2s")
    return "\n".join(lines) + "\n"


def release(index: int, configs: int) -> list[dict[str, Any]]:
    """ConfigMap, Deployment and Service of release `index`."""
    name, namespace = f"edge-{index:04}", f"team-{index % 20:02}"
    config = index % configs
    labels = {"app.kubernetes.io/name": "haproxy", "app.kubernetes.io/instance": name}
    container: dict[str, Any] = {
        "name": "haproxy",
        "image": IMAGES[config % len(IMAGES)],
        "ports": [{"name": "http", "containerPort": 8080}, {"name": "health", "containerPort": 8405}],
        "resources": {"requests": {"cpu": "250m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}},
        "volumeMounts": [{"name": "config", "mountPath": "/usr/local/etc/haproxy"}],
    }
    pod: dict[str, Any] = {
        "containers": [container],
        "volumes": [{"name": "config", "configMap": {"name": name}}],
    }
    spec: dict[str, Any] = {"replicas": 3, "selector": {"matchLabels": labels}}
    if index % 2:
        container["readinessProbe"] = {"tcpSocket": {"port": "http"}}
    else:
        container["readinessProbe"] = {"httpGet": {"path": "/ready", "port": 8405}, "periodSeconds": 2}
        container["lifecycle"] = {"preStop": {"sleep": {"seconds": 10}}}
        pod["terminationGracePeriodSeconds"] = 75
        spec["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
        spec["minReadySeconds"] = 5
    if index % 10 == 4:
        spec["strategy"] = {"type": "Recreate"}
    elif index % 10 == 8:
        pod["terminationGracePeriodSeconds"] = 5
    spec["template"] = {"metadata": {"labels": labels}, "spec": pod}
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "data": {"haproxy.cfg": configuration(config)},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": spec,
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
        },
    ]


def other(index: int) -> dict[str, Any]:
    """An unrelated Deployment (no HAProxy container)."""
    name = f"svc-{index:04}"
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": f"apps-{index % 10}", "labels": labels},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "image": OTHER_IMAGES[index % len(OTHER_IMAGES)],
                            "ports": [{"containerPort": 8080}],
                            "env": [{"name": "INDEX", "value": str(index)}],
                            "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
                        }
                    ]
                },
            },
        },
    }


def _dump(documents: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(documents, sort_keys=False, width=1000)


def write(folder: Path, releases: int = 1000, others: int = 500, configs: int = 50) -> int:
    """Write the corpus into `folder`; the number of objects written."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(releases):
        (folder / f"edge-{index:04}.yaml").write_text(_dump(release(index, configs)))
    per_file = 50
    for start in range(0, others, per_file):
        chunk = [other(index) for index in range(start, min(start + per_file, others))]
        (folder / f"svc-{start // per_file:03}.yaml").write_text(_dump(chunk))
    return 3 * releases + others


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--releases", type=int, default=1000)
    parser.add_argument("--others", type=int, default=500)
    parser.add_argument("--configs", type=int, default=50)
    args = parser.parse_args()
    count = write(args.folder, args.releases, args.others, args.configs)
    print(f"{count} objects written under {args.folder}")


if __name__ == "__main__":
    main()
