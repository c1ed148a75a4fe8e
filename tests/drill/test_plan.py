"""The drill's reading of a workload: Kubernetes' defaults and each controller's rollout arithmetic, the
preStop and readiness handlers as written, and the stop signal of the image."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from haproxy_guard.drill.plan import MAX_REPLICAS, PodPlan, pod_plan
from haproxy_guard.policies.model.rollout import scaled
from haproxy_guard.policies.model.workload import inspect_workload


def _workload(kind: str = "Deployment", spec: dict[str, Any] | None = None, **container: Any) -> PodPlan:
    base = {"name": "haproxy", "image": "haproxy:2.8", **container}
    obj: dict[str, Any] = {
        "apiVersion": "v1" if kind == "Pod" else "apps/v1",
        "kind": kind,
        "metadata": {"name": "edge", "namespace": "web"},
    }
    if kind == "Pod":
        obj["spec"] = {"containers": [base]}
    else:
        obj["spec"] = {"template": {"spec": {"containers": [base]}}, **(spec or {})}
    workload = inspect_workload(obj, (), None)
    assert workload is not None
    return pod_plan(workload, workload.haproxy_containers[0])


@pytest.mark.parametrize(
    ("value", "total", "round_up", "expected"),
    [
        ("25%", 3, True, 1),
        ("25%", 3, False, 0),
        ("25%", 8, False, 2),
        (2, 3, True, 2),
        ("50%", 3, True, 2),
        ("x", 3, True, 0),
    ],
)
def test_int_or_percent_as_the_controllers_round(value: Any, total: int, round_up: bool, expected: int) -> None:
    assert scaled(value, total, round_up=round_up, default="25%") == expected


def test_kubernetes_defaults_when_nothing_is_written() -> None:
    plan = _workload(spec={"replicas": 3})
    assert plan.grace_seconds == 30
    assert plan.pre_stop.kind == "none"
    assert plan.readiness.kind == "none"
    assert (plan.strategy.kind, plan.strategy.max_surge, plan.strategy.max_unavailable) == ("RollingUpdate", 1, 0)
    assert plan.replicas == 3
    assert plan.haproxy_version == "2.8"


def test_both_zero_gets_one_unavailable_and_large_deployments_are_capped() -> None:
    plan = _workload(spec={"replicas": 40, "strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}})
    assert plan.strategy.max_unavailable == 1
    assert plan.replicas == MAX_REPLICAS and plan.replicas_written == 40


def test_recreate_statefulset_daemonset_and_pod() -> None:
    assert _workload(spec={"replicas": 2, "strategy": {"type": "Recreate"}}).strategy.kind == "Recreate"
    assert _workload("StatefulSet", {"replicas": 2}).strategy.kind == "OrderedReplace"
    assert _workload("StatefulSet", {"updateStrategy": {"type": "OnDelete"}}).strategy.kind == "OnDelete"
    daemon = _workload("DaemonSet", {"updateStrategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}})
    assert (daemon.strategy.max_surge, daemon.strategy.max_unavailable, daemon.replicas) == (1, 0, 3)
    assert _workload("DaemonSet").strategy.max_unavailable == 1
    assert _workload("Pod").strategy.kind == "None"


@pytest.mark.parametrize(
    ("lifecycle", "kind", "seconds"),
    [
        ({"preStop": {"sleep": {"seconds": 7}}}, "sleep", 7),
        ({"preStop": {"exec": {"command": ["sleep", "5"]}}}, "exec", 5),
        ({"preStop": {"exec": {"command": ["/bin/sh", "-c", "sleep 12"]}}}, "exec", 12),
        ({"preStop": {"exec": {"command": ["/usr/local/bin/drain.sh"]}}}, "exec", 0),
        ({"preStop": {"httpGet": {"path": "/drain", "port": "health"}}}, "http", 0),
    ],
)
def test_pre_stop_handlers_as_written(lifecycle: dict[str, Any], kind: str, seconds: int) -> None:
    plan = _workload(lifecycle=lifecycle, ports=[{"name": "health", "containerPort": 8405}])
    assert (plan.pre_stop.kind, plan.pre_stop.seconds) == (kind, seconds)
    if kind == "http":
        assert plan.pre_stop.port == 8405
    if lifecycle["preStop"].get("exec", {}).get("command") == ["/usr/local/bin/drain.sh"]:
        assert plan.pre_stop.note is not None and "does not run it" in plan.pre_stop.note


def test_readiness_probe_with_a_named_port_and_its_timing() -> None:
    plan = _workload(
        ports=[{"name": "health", "containerPort": 8405}],
        readinessProbe={"httpGet": {"path": "/ready", "port": "health"}, "periodSeconds": 2, "failureThreshold": 1},
    )
    assert (plan.readiness.kind, plan.readiness.port, plan.readiness.path) == ("http", 8405, "/ready")
    assert (plan.readiness.period, plan.readiness.timeout, plan.readiness.failure_threshold) == (2, 1, 1)
    assert _workload(readinessProbe={"tcpSocket": {"port": 80}}).readiness.kind == "tcp"
    assert _workload(readinessProbe={"exec": {"command": ["true"]}}).readiness.kind == "exec"


@pytest.mark.parametrize(
    ("image", "lifecycle", "expected"),
    [
        ("haproxy:2.8", {}, signal.SIGUSR1),
        ("haproxytech/haproxy-alpine:3.0", {}, signal.SIGUSR1),
        ("bitnami/haproxy:2.8", {}, signal.SIGTERM),
        ("haproxy:2.8", {"stopSignal": "SIGTERM"}, signal.SIGTERM),
    ],
)
def test_stop_signal_of_the_image_or_the_spec(image: str, lifecycle: dict[str, Any], expected: signal.Signals) -> None:
    assert _workload(image=image, lifecycle=lifecycle).stop_signal is expected


def test_grace_period_as_written() -> None:
    obj_plan = _workload(
        spec={
            "template": {
                "spec": {
                    "terminationGracePeriodSeconds": 5,
                    "containers": [{"name": "haproxy", "image": "haproxy:3.2"}],
                }
            }
        }
    )
    assert obj_plan.grace_seconds == 5
    assert obj_plan.haproxy_version == "3.2"
