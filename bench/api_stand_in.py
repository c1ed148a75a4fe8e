"""A kube-apiserver stand-in for the cluster-audit benchmark at sizes a real one on this machine cannot hold
in reasonable time (100,000 objects): it answers exactly the reads `audit --cluster` makes, with lists shaped
like kube-apiserver's (`*List`, items without apiVersion/kind, `limit` + `continue`), generated page by page
from the object's number, so it holds nothing and serves any size. The objects are those of
`bench_cluster_audit.py` (of every 4: an HAProxy Deployment, the ConfigMap it mounts, an unrelated Deployment,
an unrelated ConfigMap; 20 namespaces; 50 distinct configurations). Plain HTTP on loopback.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

NAMESPACES = 20
CONFIG = """global
  maxconn 2000
  hard-stop-after 30s
defaults
  mode http
  timeout client 30s
  timeout server 30s
  timeout connect 5s
  option idle-close-on-response
frontend fe
  bind :8080
  default_backend app
backend app
  server a 10.0.{variant}.1:8080
"""


def namespace_of(release: int) -> str:
    return f"bench-{release % NAMESPACES}"


def deployment(release: int, haproxy: bool) -> dict[str, Any]:
    """Release `release`'s HAProxy Deployment (mounting ConfigMap `r<release>`) or its unrelated one."""
    name = f"r{release}" if haproxy else f"web{release}"
    labels = {"app": name}
    if haproxy:
        container: dict[str, Any] = {
            "name": "haproxy",
            "image": "haproxy:2.8",
            "volumeMounts": [{"name": "config", "mountPath": "/usr/local/etc/haproxy"}],
        }
        volumes: list[dict[str, Any]] = [{"name": "config", "configMap": {"name": name}}]
    else:
        container, volumes = {"name": "web", "image": "nginx:1.27"}, []
    return {
        "metadata": {"name": name, "namespace": namespace_of(release), "uid": f"u-{name}"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container], "volumes": volumes}},
        },
    }


def configmap(release: int) -> dict[str, Any]:
    return {
        "metadata": {"name": f"r{release}", "namespace": namespace_of(release)},
        "data": {"haproxy.cfg": CONFIG.format(variant=release % 50)},
    }


class StandIn:
    """The cluster of `objects` objects (`objects // 4` releases) and how many requests it answered."""

    def __init__(self, objects: int) -> None:
        self.releases = objects // 4
        self.requests = 0

    def _releases(self, namespace: str | None) -> range:
        if namespace is None:
            return range(self.releases)
        number = int(namespace.removeprefix("bench-"))
        return range(number, self.releases, NAMESPACES)

    def deployments(self, namespace: str | None, start: int, limit: int) -> tuple[list[dict[str, Any]], int | None]:
        """A page of Deployments (two per release, in release order), and where the next page starts."""
        releases = self._releases(namespace)
        total = 2 * len(releases)
        items = [
            deployment(releases[position // 2], position % 2 == 0)
            for position in range(start, min(total, start + limit))
        ]
        return items, start + limit if start + limit < total else None

    def answer(self, path: str, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.requests += 1
        parts = path.strip("/").split("/")
        namespace = parts[parts.index("namespaces") + 1] if "namespaces" in parts[:-1] else None
        if namespace is not None and not (namespace.startswith("bench-") and namespace[6:].isdigit()):
            return 404, {"kind": "Status", "code": 404}
        resource = parts[-1]
        if parts == ["api", "v1", "namespaces"]:
            names = [{"metadata": {"name": namespace_of(n)}} for n in range(min(NAMESPACES, self.releases))]
            return 200, {
                "kind": "NamespaceList",
                "metadata": {},
                "items": sorted(names, key=lambda i: i["metadata"]["name"]),
            }
        if resource == "deployments":
            start, limit = int(query.get("continue") or 0), int(query.get("limit") or 500)
            items, following = self.deployments(namespace, start, limit)
            metadata = {"resourceVersion": "1", **({"continue": str(following)} if following is not None else {})}
            return 200, {"kind": "DeploymentList", "metadata": metadata, "items": items}
        if resource in {"statefulsets", "daemonsets", "pods", "configmaps", "poddisruptionbudgets",
                        "horizontalpodautoscalers"}:  # fmt: skip
            return 200, {"kind": "List", "metadata": {"resourceVersion": "1"}, "items": []}
        if len(parts) >= 2 and parts[-2] == "configmaps" and resource.startswith("r") and resource[1:].isdigit():
            release = int(resource[1:])
            if release < self.releases and namespace == namespace_of(release):
                return 200, configmap(release)
        return 404, {"kind": "Status", "code": 404}


@contextmanager
def serve(objects: int) -> Iterator[tuple[str, StandIn]]:
    """The stand-in on a loopback port: its URL and the stand-in (for its request count)."""
    stand_in = StandIn(objects)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: with Nagle, each answer waits 40 ms

        def do_GET(self) -> None:
            path, _, raw = self.path.partition("?")
            query = {key: values[0] for key, values in urllib.parse.parse_qs(raw).items()}
            status, answer = stand_in.answer(path, query)
            body = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", stand_in
    finally:
        server.shutdown()
        server.server_close()


def kubeconfig(folder: Path, url: str) -> Path:
    """A kubeconfig for the stand-in (no TLS, a token the stand-in ignores)."""
    path = folder / "kubeconfig"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "stand-in", "cluster": {"server": url}}],
                "users": [{"name": "bench", "user": {"token": "bench"}}],
                "contexts": [{"name": "stand-in", "context": {"cluster": "stand-in", "user": "bench"}}],
                "current-context": "stand-in",
            }
        )
    )
    return path
