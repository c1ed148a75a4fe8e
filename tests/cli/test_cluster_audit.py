"""`audit --cluster` against an API server stand-in.

Until the end-to-end issue provides a real kube-apiserver, the API is a local HTTPS server answering the list
calls with responses shaped like kube-apiserver's (`*List` objects, items without apiVersion/kind), built
from a scenario's resources; the kubernetes client, kubeconfig and TLS verification are the real ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import yaml

from haproxy_guard.cli.cluster_audit import audit_objects
from haproxy_guard.policies.model.settings import Settings
from tests.helpers import ROOT
from tests.stand_in import serve_https
from tests.webhook.test_cluster import _kubeconfig

RESOURCES = list(
    yaml.safe_load_all((ROOT / "tests" / "scenarios" / "chart-with-config" / "resources.yaml").read_text())
)
OWNED_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "edge-haproxy-abc",
        "namespace": "edge",
        "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "edge-haproxy-x", "uid": "u1", "controller": True}
        ],
    },
    "spec": {"containers": [{"name": "haproxy", "image": "haproxy:2.8"}]},
}
ROUTES = {
    "deployments": ("apps/v1", "Deployment", "/apis/apps/v1"),
    "statefulsets": ("apps/v1", "StatefulSet", "/apis/apps/v1"),
    "daemonsets": ("apps/v1", "DaemonSet", "/apis/apps/v1"),
    "pods": ("v1", "Pod", "/api/v1"),
    "configmaps": ("v1", "ConfigMap", "/api/v1"),
    "poddisruptionbudgets": ("policy/v1", "PodDisruptionBudget", "/apis/policy/v1"),
}
SEEN: list[str] = []


def _list(resource: str, namespace: str | None) -> dict[str, Any]:
    api_version, kind, _ = ROUTES[resource]
    objects = [*RESOURCES, OWNED_POD]
    items = [
        {key: value for key, value in obj.items() if key not in {"apiVersion", "kind"}}
        for obj in objects
        if obj["kind"] == kind and (namespace is None or obj["metadata"].get("namespace") == namespace)
    ]
    return {"apiVersion": api_version, "kind": f"{kind}List", "metadata": {"resourceVersion": "1"}, "items": items}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        SEEN.append(self.path)
        parts = self.path.split("?")[0].strip("/").split("/")
        namespace = parts[parts.index("namespaces") + 1] if "namespaces" in parts else None
        resource = parts[-1]
        body = json.dumps(
            _list(resource, namespace) if resource in ROUTES else {"kind": "Status", "code": 404}
        ).encode()
        self.send_response(200 if resource in ROUTES else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def kubeconfig(cert_dir: Path, tmp_path: Path) -> Iterator[Path]:
    with serve_https(_Handler, cert_dir) as url:
        yield _kubeconfig(tmp_path / "config", url, cert_dir / "ca.crt")


def _audit(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "KUBERNETES_SERVICE_HOST"}
    return subprocess.run(
        [sys.executable, "-m", "haproxy_guard.cli.main", "audit", "--cluster", *args],
        capture_output=True,
        text=True,
        env={**env, "KUBECONFIG": str(kubeconfig)},
        cwd=ROOT,
        check=False,
        timeout=120,
    )


def test_cluster_findings_equal_the_file_audit(kubeconfig: Path) -> None:
    result = _audit(kubeconfig, "--format", "json")
    assert result.returncode == 1, result.stderr
    cluster = json.loads(result.stdout)
    files = json.loads(
        subprocess.run(
            [
                sys.executable,
                "-m",
                "haproxy_guard.cli",
                "audit",
                "tests/scenarios/chart-with-config/resources.yaml",
                "--format",
                "json",
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        ).stdout
    )

    def strip(report: dict[str, Any]) -> list[dict[str, Any]]:
        return [{k: v for k, v in f.items() if k != "source"} for f in report["findings"]]

    assert strip(cluster) == strip(files)
    assert all(f["source"].startswith("cluster#") for f in cluster["findings"])
    assert cluster["summary"]["resources"] == 2, "the HAProxy Deployment and ConfigMap; the owned pod is left out"


def test_namespace_uses_namespaced_calls(kubeconfig: Path) -> None:
    SEEN.clear()
    result = _audit(kubeconfig, "--namespace", "edge", "--format", "json")
    assert result.returncode == 1
    assert SEEN and all("/namespaces/edge/" in path for path in SEEN)


def test_policy_reports(kubeconfig: Path) -> None:
    result = _audit(kubeconfig, "--format", "policyreport")
    reports = list(yaml.safe_load_all(result.stdout))
    assert [r["kind"] for r in reports] == ["PolicyReport"]
    report = reports[0]
    assert report["apiVersion"] == "wgpolicyk8s.io/v1alpha2" and report["metadata"]["namespace"] == "edge"
    assert report["summary"] == {"pass": 1, "fail": 2, "warn": 5, "error": 0, "skip": 0}
    failing = {r["policy"] for r in report["results"] if r["result"] == "fail"}
    assert failing == {"prestop-wait", "termination-grace-period"}
    assert report["results"][0]["resources"][0] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "edge-haproxy",
        "namespace": "edge",
        "uid": None,
    }


def test_no_cluster_configuration_exits_2(tmp_path: Path) -> None:
    result = _audit(tmp_path / "absent-kubeconfig")
    assert result.returncode == 2
    assert "no Kubernetes API configuration found" in result.stderr


def test_progress_bar_only_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    objects = [obj for obj in RESOURCES if obj["kind"] in {"Deployment", "ConfigMap"}] * 6
    results = audit_objects(objects, Settings(), None, progress=True)
    assert len(results) == 12
    err = capsys.readouterr().err
    assert "] 10/12" in err and err.rstrip().endswith("] 12/12")
    audit_objects(objects, Settings(), None, progress=False)
    assert capsys.readouterr().err == ""
