"""The product as users install it, on the real node: `helm install` of charts/haproxy-guard runs the webhook
as pods from the project's image, then everything goes through `kubectl apply` only."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.node.cluster import Node, available, new_namespace
from tests.node.conftest import FULLNAME, GUARD_NAMESPACE
from tests.node.workloads import BROKEN_CFG, BROKEN_LINE, HAPROXY_CFG, config_map, service, workload

pytestmark = [pytest.mark.node, pytest.mark.timeout(600)]


def _webhook_pods(node: Node) -> list[dict[str, Any]]:
    listed = json.loads(
        node.kubectl_ok("get", "pods", "-n", GUARD_NAMESPACE, "-l", "app.kubernetes.io/component=webhook", "-o", "json")
    )
    return [
        p
        for p in listed["items"]
        if p["metadata"]["name"].startswith(FULLNAME) and "deletionTimestamp" not in p["metadata"]
    ]


def test_the_webhook_runs_as_pods_of_the_project_image_with_its_checker_apart(node: Node, guard: str) -> None:
    pods = _webhook_pods(node)
    assert len(pods) == 2, [p["metadata"]["name"] for p in pods]
    for pod in pods:
        containers = {c["name"]: c for c in pod["spec"]["containers"]}
        assert {"webhook", "checker"} <= set(containers), containers.keys()
        assert {c["image"] for c in containers.values()} == {"localhost/haproxy-guard:test"}
        statuses = {s["name"]: s for s in pod["status"]["containerStatuses"]}
        assert all(s["ready"] for s in statuses.values()), statuses
        # Privilege separation as deployed: the checker container gets no service account token.
        mounts = [m["mountPath"] for m in containers["checker"].get("volumeMounts", [])]
        assert not any("serviceaccount" in m for m in mounts), mounts


def test_an_haproxy_deployment_as_users_write_it_is_stored_mutated(node: Node, guard: str) -> None:
    ns = new_namespace(node)
    applied = node.apply([config_map("edge", ns), service("edge", ns), workload("Deployment", "edge", ns, "2.6")])
    assert applied.returncode == 0, applied.stderr
    stored = node.get("deployment", "edge", ns)
    assert stored is not None
    pod = stored["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert "preStop" in container.get("lifecycle", {}), container
    assert pod["spec"]["terminationGracePeriodSeconds"] > 30
    assert container["readinessProbe"].get("httpGet", {}).get("path") == "/ready", container["readinessProbe"]
    assert _unavailable_at_once(stored) == 0, stored["spec"]["strategy"]
    assert "haproxy-guard.io/config-hash" in pod["metadata"].get("annotations", {})
    # The mutated pods really run and become Ready through the deep readiness endpoint.
    node.wait_for("the mutated Deployment to be available", lambda: available(node, "deployment", "edge", ns, 2), 180)


def _unavailable_at_once(deployment: dict[str, Any]) -> int:
    """maxUnavailable as the Deployment controller applies it (a percentage of the replicas, rounded down)."""
    written = deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"]
    if isinstance(written, str) and written.endswith("%"):
        replicas: int = deployment["spec"]["replicas"]
        return int(written[:-1]) * replicas // 100
    return int(written)


def test_a_broken_haproxy_configmap_is_denied_with_file_and_line(node: Node, guard: str) -> None:
    ns = new_namespace(node)
    denied = node.apply([config_map("edge", ns, BROKEN_CFG)])
    assert denied.returncode != 0
    message = denied.stderr
    assert "denied the request" in message and f"haproxy.cfg:{BROKEN_LINE}:" in message, message
    assert node.get("configmap", "edge", ns) is None


def test_a_configmap_change_applied_with_its_workload_rolls_the_pods(node: Node, guard: str) -> None:
    """GitOps tools apply the whole folder server-side: the Deployment's admission recomputes the digest of the
    changed ConfigMap, so the pod template changes and the pods roll. (A client-side `kubectl apply` of an
    unchanged Deployment sends no request at all: that gap is issue 30's rollout controller.)"""
    ns = new_namespace(node)
    objects = [config_map("edge", ns), service("edge", ns), workload("Deployment", "edge", ns, "3.2")]
    node.kubectl_ok(
        "apply", "--server-side", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    )
    node.wait_for("the Deployment to be available", lambda: available(node, "deployment", "edge", ns, 2), 180)
    before = node.get("deployment", "edge", ns)
    assert before is not None
    old_hash = before["spec"]["template"]["metadata"]["annotations"]["haproxy-guard.io/config-hash"]
    old_pods = _pod_names(node, ns)
    objects[0] = config_map("edge", ns, HAPROXY_CFG.replace("maxconn 2000", "maxconn 3000"))
    node.kubectl_ok(
        "apply", "--server-side", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    )
    after = node.get("deployment", "edge", ns)
    assert after is not None
    assert after["spec"]["template"]["metadata"]["annotations"]["haproxy-guard.io/config-hash"] != old_hash
    node.wait_for("the rollout to finish", lambda: available(node, "deployment", "edge", ns, 2), 180)
    assert not (set(_pod_names(node, ns)) & set(old_pods)), "the pods did not roll"


def _pod_names(node: Node, ns: str) -> list[str]:
    listed = json.loads(node.kubectl_ok("get", "pods", "-n", ns, "-o", "json"))
    return [p["metadata"]["name"] for p in listed["items"] if "deletionTimestamp" not in p["metadata"]]


def test_killing_webhook_pods_behaves_as_the_failure_design_says(node: Node, guard: str) -> None:
    """One webhook pod killed: the other replica answers, mutation goes on. Both gone: workloads are admitted
    unmutated (failurePolicy Ignore) and labelled ConfigMaps are refused (Fail), as README "Failure design" says."""
    ns = new_namespace(node)
    node.apply([config_map("edge", ns)]).check_returncode()
    victim = _webhook_pods(node)[0]["metadata"]["name"]
    node.kubectl_ok("delete", "pod", victim, "-n", GUARD_NAMESPACE, "--grace-period=0", "--force", "--wait=false")
    applied = node.apply([workload("Deployment", "one-down", ns, "2.6")])
    assert applied.returncode == 0, applied.stderr
    stored = node.get("deployment", "one-down", ns)
    assert stored is not None and "preStop" in stored["spec"]["template"]["spec"]["containers"][0].get("lifecycle", {})

    node.kubectl_ok("scale", "deployment", FULLNAME, "-n", GUARD_NAMESPACE, "--replicas=0")
    try:
        node.wait_for("the webhook pods to be gone", lambda: not _all_webhook_pods(node), 120)
        time.sleep(2)  # the API server's endpoint view follows the EndpointSlice
        applied = node.apply([workload("Deployment", "all-down", ns, "2.6")])
        assert applied.returncode == 0, applied.stderr
        stored = node.get("deployment", "all-down", ns)
        assert stored is not None and "lifecycle" not in stored["spec"]["template"]["spec"]["containers"][0]
        refused = node.apply([config_map("labelled", ns)])
        assert refused.returncode != 0 and "failed calling webhook" in refused.stderr, refused.stderr
        unlabelled = node.apply([config_map("unlabelled", ns, labelled=False)])
        assert unlabelled.returncode == 0, unlabelled.stderr
    finally:
        node.kubectl_ok("scale", "deployment", FULLNAME, "-n", GUARD_NAMESPACE, "--replicas=2")
        node.wait_for(
            "the webhook to be back", lambda: available(node, "deployment", FULLNAME, GUARD_NAMESPACE, 2), 180
        )


def _all_webhook_pods(node: Node) -> list[str]:
    listed = json.loads(node.kubectl_ok("get", "pods", "-n", GUARD_NAMESPACE, "-o", "json"))
    return [
        p["metadata"]["name"]
        for p in listed["items"]
        if p["metadata"]["name"].startswith(FULLNAME + "-")
        and p["status"].get("phase") != "Succeeded"
        and "certs" not in p["metadata"]["name"]
    ]
