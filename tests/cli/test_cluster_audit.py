"""`audit --cluster` against an API server stand-in.

Until the end-to-end issue provides a real kube-apiserver, the API is a local HTTPS server answering the list
calls with responses shaped like kube-apiserver's (`*List` objects, items without apiVersion/kind), built
from a scenario's resources; the kubernetes client, kubeconfig and TLS verification are the real ones.
"""

from __future__ import annotations

import copy
import io
import json
import os
import subprocess
import sys
import tracemalloc
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import yaml

from haproxy_guard.cli import cluster_audit
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
    "services": ("v1", "Service", "/api/v1"),
    "horizontalpodautoscalers": ("autoscaling/v2", "HorizontalPodAutoscaler", "/apis/autoscaling/v2"),
}
EXTRA: list[dict[str, Any]] = []
"""Objects a test adds to the cluster (Services, HorizontalPodAutoscalers)."""
SEEN: list[str] = []
NAMESPACES_STATUS: list[int] = [200]
"""What a list of namespaces gets (403: the audit may not list them)."""
FAIL_AFTER: list[int] = []  # answer 500 to every request after this many (empty: never)


def _items(kind: str, namespace: str | None, selector: str | None) -> list[dict[str, Any]]:
    objects = [*RESOURCES, OWNED_POD, *EXTRA]
    wanted = dict(part.split("=", 1) for part in selector.split(",")) if selector else {}
    return [
        {key: value for key, value in obj.items() if key not in {"apiVersion", "kind"}}
        for obj in objects
        if obj["kind"] == kind
        and (namespace is None or obj["metadata"].get("namespace") == namespace)
        and all((obj["metadata"].get("labels") or {}).get(k) == v for k, v in wanted.items())
    ]


def _list(resource: str, namespace: str | None, query: dict[str, str]) -> dict[str, Any]:
    """A list as kube-apiserver answers it: `limit` cuts it into pages, `continue` resumes."""
    api_version, kind, _ = ROUTES[resource]
    items = _items(kind, namespace, query.get("labelSelector"))
    start = int(query.get("continue") or 0)
    limit = int(query.get("limit") or len(items) or 1)
    page, rest = items[start : start + limit], items[start + limit :]
    metadata: dict[str, Any] = {"resourceVersion": "1"}
    if rest:
        metadata["continue"] = str(start + limit)
    return {"apiVersion": api_version, "kind": f"{kind}List", "metadata": metadata, "items": page}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        SEEN.append(self.path)
        if FAIL_AFTER and len(SEEN) > FAIL_AFTER[0]:
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, raw_query = self.path.partition("?")
        query = {key: values[0] for key, values in urllib.parse.parse_qs(raw_query).items()}
        parts = path.strip("/").split("/")
        namespace = parts[parts.index("namespaces") + 1] if "namespaces" in parts[:-1] else None
        status, answer = 404, {"kind": "Status", "code": 404}
        if parts == ["api", "v1", "namespaces"]:
            names = sorted({obj["metadata"]["namespace"] for obj in [*RESOURCES, OWNED_POD, *EXTRA]})
            status = NAMESPACES_STATUS[0]
            answer = {"kind": "NamespaceList", "metadata": {}, "items": [{"metadata": {"name": n}} for n in names]}
        elif parts[-1] in ROUTES:
            status, answer = 200, _list(parts[-1], namespace, query)
        elif len(parts) >= 2 and parts[-2] in {"configmaps", "services"}:
            kind = "ConfigMap" if parts[-2] == "configmaps" else "Service"
            found = [item for item in _items(kind, namespace, None) if item["metadata"]["name"] == parts[-1]]
            if found:
                status, answer = 200, found[0]
        body = json.dumps(answer).encode()
        self.send_response(status)
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
        findings = [{k: v for k, v in f.items() if k != "source"} for f in report["findings"]]
        return sorted(findings, key=lambda f: json.dumps(f, sort_keys=True))

    assert strip(cluster) == strip(files)
    assert all(f["source"].startswith("cluster#") for f in cluster["findings"])
    assert cluster["summary"]["resources"] == 2, "the HAProxy Deployment and ConfigMap; the owned pod is left out"


def test_namespace_uses_namespaced_calls(kubeconfig: Path) -> None:
    SEEN.clear()
    result = _audit(kubeconfig, "--namespace", "edge", "--format", "json")
    assert result.returncode == 1
    assert SEEN and all("/namespaces/edge/" in path for path in SEEN)


def test_the_clusters_autoscalers_decide_the_rollout_arithmetic(
    kubeconfig: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """25% of the Deployment's 3 replicas stops no pod; its HorizontalPodAutoscaler scales it to 8, where 25%
    stops 2 at once: the cluster audit reads the HPA as the CLI reads one from its input."""
    assert not any(f["policy"] == "deployment-rolling-update" and "maxUnavailable" in f["message"]
                   for f in json.loads(_audit(kubeconfig, "--format", "json").stdout)["findings"])  # fmt: skip
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "edge-haproxy", "namespace": "edge"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "edge-haproxy"},
                 "minReplicas": 3, "maxReplicas": 8},
    }  # fmt: skip
    monkeypatch.setattr(sys.modules[__name__], "EXTRA", [hpa])
    findings = json.loads(_audit(kubeconfig, "--format", "json").stdout)["findings"]
    assert any("maxUnavailable is '25%' (2 of 8 replicas)" in f["message"] for f in findings), findings


def test_policy_reports(kubeconfig: Path) -> None:
    result = _audit(kubeconfig, "--format", "policyreport")
    reports = list(yaml.safe_load_all(result.stdout))
    assert [r["kind"] for r in reports] == ["PolicyReport"]
    report = reports[0]
    assert report["apiVersion"] == "wgpolicyk8s.io/v1alpha2" and report["metadata"]["namespace"] == "edge"
    assert report["summary"] == {"pass": 1, "fail": 2, "warn": 4, "error": 0, "skip": 0}
    failing = {r["policy"] for r in report["results"] if r["result"] == "fail"}
    assert failing == {"prestop-wait", "termination-grace-period"}
    assert report["results"][0]["resources"][0] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "edge-haproxy",
        "namespace": "edge",
        "uid": None,
    }


def _in_namespace(obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    moved = copy.deepcopy(obj)
    moved["metadata"]["namespace"] = namespace
    return moved


@pytest.mark.parametrize("listable", [True, False], ids=["namespaces-listed", "namespaces-forbidden"])
def test_policy_reports_are_written_namespace_by_namespace(
    kubeconfig: Path, monkeypatch: pytest.MonkeyPatch, listable: bool
) -> None:
    """Each namespace is audited on its own (namespaced lists) and its report written before the next is read,
    so memory holds one namespace's results; without `list` on namespaces, one pass over the cluster gives the
    same reports."""
    monkeypatch.setattr(sys.modules[__name__], "EXTRA", [_in_namespace(obj, "apps") for obj in RESOURCES])
    monkeypatch.setattr(sys.modules[__name__], "NAMESPACES_STATUS", [200 if listable else 403])
    SEEN.clear()
    result = _audit(kubeconfig, "--format", "policyreport")
    assert result.returncode == 1, result.stderr
    reports = list(yaml.safe_load_all(result.stdout))
    assert [r["metadata"]["namespace"] for r in reports] == ["apps", "edge"]
    assert reports[0]["summary"] == reports[1]["summary"] == {"pass": 1, "fail": 2, "warn": 4, "error": 0, "skip": 0}
    workload_lists = [path for path in SEEN if path.split("?")[0].endswith("/deployments")]
    # the namespace's workloads are listed once more for the branches that mount its ConfigMaps
    # (`Context.mounters`), namespaced either way
    namespaced = {"/apis/apps/v1/namespaces/apps/deployments", "/apis/apps/v1/namespaces/edge/deployments"}
    if listable:
        assert {p.split("?")[0] for p in workload_lists} == namespaced
    else:
        assert {p.split("?")[0] for p in workload_lists} == {"/apis/apps/v1/deployments"} | namespaced


def test_reports_hold_one_namespace_at_a_time(kubeconfig: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], "EXTRA", [_in_namespace(obj, "apps") for obj in RESOURCES])
    held: list[set[str | None]] = []
    real = cluster_audit.write_reports

    def recorded(results: Any, *args: Any) -> bool:
        held.append({result.evaluation.subject.namespace for result in results})
        return real(results, *args)

    monkeypatch.setattr(cluster_audit, "write_reports", recorded)
    with _api(kubeconfig) as api:
        out = io.StringIO()
        assert cluster_audit.write_policy_reports(api, None, Settings(), None, out)
    assert held == [{"apps"}, {"edge"}]
    assert len(list(yaml.safe_load_all(out.getvalue()))) == 2


class _Counting:
    """A text sink that keeps only how much was written."""

    def __init__(self) -> None:
        self.characters = 0

    def write(self, text: str) -> int:
        self.characters += len(text)
        return len(text)


def test_a_report_is_written_entry_by_entry(kubeconfig: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The written reports parse to the report objects; writing a namespace of 3,000 objects holds about one
    entry at a time, where dumping the report whole holds every entry and PyYAML's nodes for them."""
    monkeypatch.setattr(sys.modules[__name__], "EXTRA", [_in_namespace(obj, "apps") for obj in RESOURCES])
    with _api(kubeconfig) as api:
        results, _ = cluster_audit.stream_audit(api, None, Settings(), None)
    timestamp = {"seconds": 1, "nanos": 0}
    out = io.StringIO()
    assert cluster_audit.write_reports(results, out, timestamp) is False
    expected = cluster_audit.policy_reports(results)
    for report in expected:
        for entry in report["results"]:
            entry["timestamp"] = timestamp
    assert list(yaml.safe_load_all(out.getvalue())) == expected
    many = [result for result in results if getattr(result.evaluation.subject, "namespace", None) == "edge"] * 1000
    tracemalloc.start()
    try:
        cluster_audit.write_reports(many, _Counting(), timestamp)  # type: ignore[arg-type]
        _, streamed = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        yaml.dump_all(cluster_audit.policy_reports(many), _Counting(), Dumper=yaml.CSafeDumper, sort_keys=False)
        _, whole = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert streamed < 1024 * 1024 < 4 * 1024 * 1024 < whole, (streamed, whole)


def test_no_cluster_configuration_exits_2(tmp_path: Path) -> None:
    result = _audit(tmp_path / "absent-kubeconfig")
    assert result.returncode == 2
    assert "no Kubernetes API configuration found" in result.stderr


def _api(kubeconfig: Path) -> Any:
    from kubernetes import client, config

    configuration = client.Configuration()
    config.load_kube_config(str(kubeconfig), client_configuration=configuration)  # type: ignore[no-untyped-call]
    return client.ApiClient(configuration)


def test_lists_are_read_page_by_page_and_configmaps_only_when_mounted_or_labelled(
    kubeconfig: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cluster_audit, "PAGE_SIZE", 1)
    second = copy.deepcopy(next(obj for obj in RESOURCES if obj["kind"] == "Deployment"))
    second["metadata"]["name"] = "edge-haproxy-2"
    monkeypatch.setattr(sys.modules[__name__], "RESOURCES", [*RESOURCES, second])
    SEEN.clear()
    with _api(kubeconfig) as api:
        results, requests = cluster_audit.stream_audit(api, None, Settings(), None)
    assert requests == len(SEEN)
    assert any("continue=1" in path for path in SEEN), "a second page was asked for"
    assert all("limit=1" in path for path in SEEN if "/configmaps/" not in path)
    configmap_reads = [path for path in SEEN if "configmaps" in path]
    assert configmap_reads and all("/configmaps/" in p or "labelSelector=" in p for p in configmap_reads), (
        "no unfiltered ConfigMap list: only the mounted ones by name and the labelled ones"
    )
    kinds = sorted(result.document.obj["kind"] for result in results)
    assert kinds == ["ConfigMap", "Deployment", "Deployment"], "the ConfigMap both mount is audited once"
    assert sum("/configmaps/" in path for path in SEEN) == 1, "and read once"


def test_results_do_not_keep_the_objects(kubeconfig: Path) -> None:
    with _api(kubeconfig) as api:
        results, _ = cluster_audit.stream_audit(api, None, Settings(), None)
    for result in results:
        assert set(result.document.obj) == {"apiVersion", "kind", "metadata"}
        assert set(result.document.obj["metadata"]) <= {"name", "namespace", "uid"}
        subject = result.evaluation.subject
        assert subject is not None and subject.obj is result.document.obj
    assert any(result.findings for result in results)


def test_progress_only_when_asked(kubeconfig: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with _api(kubeconfig) as api:
        cluster_audit.stream_audit(api, None, Settings(), None, progress=True)
        assert "objects read" in capsys.readouterr().err
        cluster_audit.stream_audit(api, None, Settings(), None, progress=False)
        assert capsys.readouterr().err == ""


def test_a_sink_gets_every_result_and_nothing_is_kept(kubeconfig: Path) -> None:
    received: list[Any] = []
    with _api(kubeconfig) as api:
        kept, _ = cluster_audit.stream_audit(api, None, Settings(), None, sink=received.append)
        listed, _ = cluster_audit.stream_audit(api, None, Settings(), None)
    assert kept == []
    assert [r.document.obj for r in received] == [r.document.obj for r in listed]
    assert [r.findings for r in received] == [r.findings for r in listed]


@pytest.mark.parametrize("output_format", ["json", "jsonl", "text", "sarif", "policyreport"])
def test_a_failure_half_way_prints_no_half_report(
    kubeconfig: Path, output_format: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    SEEN.clear()
    whole = _audit(kubeconfig, "--format", output_format)
    assert whole.returncode == 1 and whole.stdout.strip()
    requests = len(SEEN)
    monkeypatch.setattr(sys.modules[__name__], "FAIL_AFTER", [requests - 1])
    SEEN.clear()
    failed = _audit(kubeconfig, "--format", output_format)
    assert failed.returncode == 2 and "cannot read the cluster" in failed.stderr
    assert failed.stdout == ""


def test_streamed_reports_equal_the_whole_document_reports(
    kubeconfig: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The cluster audit writes json/text/sarif as results arrive; the policy report is built whole. Each
    streamed report is the same bytes `render` gives for the same results (so JSON parses and SARIF keeps its
    schema), whether it stays in memory or spills to a temporary file."""
    from haproxy_guard.cli.commands import tool_version
    from haproxy_guard.cli.report import render

    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with _api(kubeconfig) as api:
        results, _ = cluster_audit.stream_audit(api, None, Settings(), None)
    assert results
    for spool in (cluster_audit.SPOOL_BYTES, 16):
        monkeypatch.setattr(cluster_audit, "SPOOL_BYTES", spool)
        for output_format in ("json", "jsonl", "text", "sarif"):
            assert cluster_audit.run_cluster_audit(Settings(), None, output_format, None) == 1
            expected = render(results, output_format, tool_version(), io.StringIO()) + "\n"
            assert capsys.readouterr().out == expected
