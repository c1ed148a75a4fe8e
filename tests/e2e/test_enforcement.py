"""Enforcement through a real kube-apiserver and kubectl: what users meet on `kubectl apply`."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import uuid
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import ControlPlane, Webhook
from tests.helpers import GOLDEN, ROOT, load_yaml

pytestmark = pytest.mark.e2e
EXAMPLES = list(yaml.safe_load_all((ROOT / "examples" / "haproxy-configmap.yaml").read_text()))
DEPLOYMENT = load_yaml(ROOT / "examples" / "haproxy-deployment.yaml")
INVALID_CONFIG = load_yaml(GOLDEN / "haproxy-config-valid" / "typo-configmap" / "input.yaml")


def namespace(control_plane: ControlPlane, labels: dict[str, str] | None = None) -> str:
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    control_plane.apply(
        [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}}]
    ).check_returncode()
    return name


def placed(objects: list[dict[str, Any]], ns: str) -> list[dict[str, Any]]:
    copies = copy.deepcopy(objects)
    for obj in copies:
        obj["metadata"]["namespace"] = ns
    return copies


def workloads(ns: str) -> list[dict[str, Any]]:
    """The example Deployment, and a StatefulSet and a DaemonSet with the same pod template."""
    deployment = placed([DEPLOYMENT], ns)[0]
    template = deployment["spec"]["template"]
    selector = deployment["spec"]["selector"]
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "edge-sts", "namespace": ns},
        "spec": {"serviceName": "edge", "replicas": 1, "selector": selector, "template": template},
    }
    daemonset = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "edge-ds", "namespace": ns},
                 "spec": {"selector": selector, "template": template}}  # fmt: skip
    return [deployment, statefulset, daemonset]


def _resource_versions(control_plane: ControlPlane, ns: str) -> dict[str, str]:
    versions = {}
    for kind, name in (("deployment", "edge-haproxy"), ("statefulset", "edge-sts"), ("daemonset", "edge-ds")):
        stored = control_plane.get(kind, name, ns)
        assert stored is not None
        versions[name] = stored["metadata"]["resourceVersion"]
    return versions


def test_apply_stores_the_safe_settings_and_a_second_apply_changes_nothing(
    control_plane: ControlPlane, webhook: Webhook
) -> None:
    ns = namespace(control_plane)
    objects = [*placed(EXAMPLES, ns), *workloads(ns)]
    first = control_plane.apply(objects)
    assert first.returncode == 0, first.stderr
    for kind, name in (("deployment", "edge-haproxy"), ("statefulset", "edge-sts"), ("daemonset", "edge-ds")):
        stored = control_plane.get(kind, name, ns)
        assert stored is not None
        pod = stored["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert container["lifecycle"]["preStop"] == {"sleep": {"seconds": 10}}, "native sleep: the API server says 1.34"
        assert pod["terminationGracePeriodSeconds"] == 45, "10 s wait + hard-stop-after 30 s + 5 s"
        assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": 8405, "scheme": "HTTP"}
        assert stored["spec"]["template"]["metadata"]["annotations"]["haproxy-guard.io/config-hash"].startswith(
            "sha256:"
        )
        assert stored["spec"]["minReadySeconds"] == 10
    deployment = control_plane.get("deployment", "edge-haproxy", ns)
    assert deployment is not None
    # 25% of 3 replicas rounds down to 0 (the controller's arithmetic): the API server's defaults stay
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": "25%", "maxSurge": "25%"}
    daemonset = control_plane.get("daemonset", "edge-ds", ns)
    assert daemonset is not None and daemonset["spec"]["updateStrategy"]["rollingUpdate"]["maxSurge"] == 1
    versions = _resource_versions(control_plane, ns)

    diff = control_plane.kubectl("diff", "-f", "-", stdin=yaml.safe_dump_all(objects))
    assert diff.returncode == 0 and diff.stdout == "", f"drift after mutation:\n{diff.stdout}"
    second = control_plane.apply(objects)
    assert second.returncode == 0, second.stderr
    assert _resource_versions(control_plane, ns) == versions, "no reinvocation loop, no drift"


def test_server_side_dry_run_returns_the_mutated_object_and_stores_nothing(
    control_plane: ControlPlane, webhook: Webhook
) -> None:
    ns = namespace(control_plane)
    control_plane.apply(placed(EXAMPLES, ns)).check_returncode()
    result = control_plane.apply(placed([DEPLOYMENT], ns), "--dry-run=server", "-o", "json")
    assert result.returncode == 0, result.stderr
    returned = json.loads(result.stdout)
    assert returned["spec"]["template"]["spec"]["containers"][0]["lifecycle"]["preStop"] == {"sleep": {"seconds": 10}}
    assert control_plane.get("deployment", "edge-haproxy", ns) is None


def test_invalid_configmaps_are_refused_with_file_line_and_reason(
    control_plane: ControlPlane, webhook: Webhook
) -> None:
    ns = namespace(control_plane)
    invalid = placed([INVALID_CONFIG], ns)[0]
    refused = control_plane.apply([invalid])
    assert refused.returncode != 0
    assert "haproxy-guard denied ConfigMap" in refused.stderr
    assert "haproxy.cfg:19: error detected while parsing an 'http-request deny' condition" in refused.stderr
    assert control_plane.get("configmap", invalid["metadata"]["name"], ns) is None

    valid = placed(EXAMPLES[:1], ns)[0]
    assert control_plane.apply([valid]).returncode == 0
    stored = control_plane.get("configmap", "edge-haproxy", ns)
    broken = copy.deepcopy(valid)
    broken["data"]["haproxy.cfg"] += "  bogus-directive on\n"
    update = control_plane.apply([broken])
    assert update.returncode != 0 and "unknown keyword 'bogus-directive'" in update.stderr
    assert control_plane.get("configmap", "edge-haproxy", ns) == stored, "the stored object is unchanged"


def test_cluster_audit_reads_this_api_server(control_plane: ControlPlane, webhook: Webhook) -> None:
    ns = namespace(control_plane)
    control_plane.apply([*placed(EXAMPLES, ns), *workloads(ns)]).check_returncode()
    result = subprocess.run(
        [sys.executable, "-m", "haproxy_guard.cli.main", "audit", "--cluster", "--namespace", ns, "--format", "json"],
        capture_output=True, text=True, cwd=ROOT, env={"KUBECONFIG": str(control_plane.kubeconfig), "PATH": "/usr/bin:/bin"},
        check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["summary"]["resources"] == 4, "the ConfigMap and three workloads"
    assert report["summary"]["deny"] == 0, "what the webhook stored passes its own audit"


def test_a_configmap_is_checked_first_with_its_pods_branch(control_plane: ControlPlane, webhook: Webhook) -> None:
    """The webhook lists the namespace's workloads on a ConfigMap write: what their branch (2.6 here) refuses
    is named in a warning, never a denial (a newer branch accepts it: the same apply may upgrade the pods), and
    the cluster audit says the same of the stored ConfigMap."""
    ns = namespace(control_plane)
    deployment = placed([DEPLOYMENT], ns)[0]
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = "haproxy:2.6"
    # the workload first: the webhook keeps a namespace's list for 5 s, and a list taken while the ConfigMap
    # was created ahead of it in one apply would not show it yet (the order is advice, so a stale list may be)
    control_plane.apply([deployment, *placed(EXAMPLES[1:], ns)]).check_returncode()
    changed = placed(EXAMPLES[:1], ns)[0]
    changed["data"]["haproxy.cfg"] += "  filter bwlim-out lim default-limit 1m default-period 1s\n"
    applied = control_plane.apply([changed])
    assert applied.returncode == 0, applied.stderr
    assert "[haproxy-config-valid]" in applied.stderr and "not valid for HAProxy 2.6" in applied.stderr
    assert "bwlim-out" in applied.stderr
    result = subprocess.run(
        [sys.executable, "-m", "haproxy_guard.cli.main", "audit", "--cluster", "--namespace", ns, "--format", "json"],
        capture_output=True, text=True, cwd=ROOT, env={"KUBECONFIG": str(control_plane.kubeconfig), "PATH": "/usr/bin:/bin"},
        check=False, timeout=120,
    )  # fmt: skip
    findings = json.loads(result.stdout)["findings"]
    assert [
        f["severity"]
        for f in findings
        if f["kind"] == "ConfigMap" and f["policy"] == "haproxy-config-valid" and "HAProxy 2.6" in f["message"]
    ] == ["warn"]
