"""Which containers run HAProxy, by what they run, and which family's facts they get; static and mirror Pods."""

from __future__ import annotations

from typing import Any

import pytest

from haproxy_guard.policies import engine
from haproxy_guard.policies.model.families import (
    BITNAMI,
    HAPROXY,
    HAPROXY_INGRESS,
    IN_HOUSE,
    KUBERNETES_INGRESS,
    UNIFIED_GATEWAY,
    Family,
    container_family,
)
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.workload import inspect_workload


@pytest.mark.parametrize(
    ("container", "family"),
    [
        ({"image": "haproxy:3.2"}, HAPROXY),
        ({"image": "docker.io/library/haproxy:2.8-alpine"}, HAPROXY),
        ({"image": "haproxytech/haproxy-alpine:3.0"}, HAPROXY),
        ({"image": "registry.local:5000/mirror/haproxy@sha256:" + "0" * 64}, HAPROXY),
        ({"image": "haproxy:2.8", "args": ["-f", "/etc/haproxy/haproxy.cfg"]}, HAPROXY),
        ({"image": "haproxy:2.8", "command": ["haproxy", "-W", "-db", "-f", "/cfg"]}, HAPROXY),
        ({"image": "haproxy:2.8", "command": ["/docker-entrypoint.sh"], "args": ["haproxy", "-f", "/c"]}, HAPROXY),
        ({"image": "haproxy:2.8", "command": ["sh", "-c", "exec haproxy -f /usr/local/etc/haproxy"]}, HAPROXY),
        ({"image": "bitnami/haproxy:2.8"}, BITNAMI),
        ({"image": "docker.io/bitnami/haproxy:3.2.4-debian-12-r0"}, BITNAMI),
        ({"image": "bitnamilegacy/haproxy:2.8"}, BITNAMI),
        ({"image": "docker.io/haproxytech/kubernetes-ingress:3.2.12"}, KUBERNETES_INGRESS),
        ({"image": "mirror.corp/haproxytech/kubernetes-ingress:1.11"}, KUBERNETES_INGRESS),
        ({"image": "quay.io/jcmoraisjr/haproxy-ingress:v0.15.0"}, HAPROXY_INGRESS),
        ({"image": "haproxy-ingress/haproxy-ingress:v0.17.0"}, HAPROXY_INGRESS),
        ({"image": "docker.io/haproxytech/haproxy-unified-gateway:1.0.6"}, UNIFIED_GATEWAY),
        ({"image": "myorg/edge:1.4", "command": ["/usr/sbin/haproxy", "-W", "-f", "/etc/haproxy.cfg"]}, IN_HOUSE),
        ({"image": "alpine:3.20", "command": ["sh", "-c", "apk add haproxy && exec haproxy -f /c"]}, IN_HOUSE),
        ({"image": "debian:12", "args": ["haproxy", "-f", "/etc/haproxy/haproxy.cfg"]}, IN_HOUSE),
    ],
)
def test_haproxy_containers_by_image_and_command(container: dict[str, Any], family: Family) -> None:
    assert container_family(container) is family


@pytest.mark.parametrize(
    "container",
    [
        {"image": "prom/haproxy-exporter:v0.15.0"},
        {"image": "haproxytech/haproxy-debian:3.0", "command": ["/usr/local/bin/dataplaneapi", "-f", "/dp.yaml"]},
        {"image": "haproxy:2.8", "command": ["haproxy_exporter", "--haproxy.scrape-uri=..."]},
        {"image": "haproxy:2.8", "args": ["dataplaneapi", "--config-file", "/x"]},
        {"image": "haproxy:2.8", "command": ["sh", "-c", "while true; do sleep 3600; done"]},
        {"image": "alpine:3.20", "command": ["sh", "-c", "ping haproxy"]},
        {"image": "curlimages/curl", "args": ["http://haproxy:8080/"]},
        {"image": "nginx:1.27"},
        {"image": "haproxytech/kubernetes-ingress:3.2", "command": ["/bin/sh", "-c", "cp /x /y"]},
    ],
)
def test_containers_that_run_something_else_are_not_haproxy(container: dict[str, Any]) -> None:
    assert container_family(container) is None


def test_image_patterns_add_in_house_images_unless_they_run_something_else() -> None:
    assert container_family({"image": "team/edge-lb:7"}, ("*edge-lb*",)) is IN_HOUSE
    assert container_family({"image": "team/edge-lb:7", "command": ["exporter"]}, ("*edge-lb*",)) is None


def _pod(**spec: Any) -> dict[str, Any]:
    metadata = spec.pop("metadata", {"name": "haproxy", "namespace": "kube-system"})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


KUBEADM_STATIC_POD = _pod(
    # kubernetes/kubeadm docs/ha-considerations.md, "haproxy configuration" static Pod
    containers=[
        {
            "name": "haproxy",
            "image": "haproxy:2.1.4",
            "livenessProbe": {"httpGet": {"host": "localhost", "path": "/healthz", "port": 8443, "scheme": "HTTPS"}},
            "volumeMounts": [{"mountPath": "/usr/local/etc/haproxy/haproxy.cfg", "name": "haproxyconf"}],
        }
    ],
    hostNetwork=True,
    volumes=[{"hostPath": {"path": "/etc/haproxy/haproxy.cfg", "type": "FileOrCreate"}, "name": "haproxyconf"}],
)


def test_a_static_pod_manifest_gets_advice_only_and_no_patch() -> None:
    settings = Settings()
    evaluation = engine.check(KUBEADM_STATIC_POD, settings)
    assert evaluation.workload is not None and evaluation.workload.static_pod
    assert not evaluation.denied
    assert {f.policy for f in evaluation.findings}.isdisjoint(engine.STATIC_POD_EXEMPT)
    assert evaluation.notes and "static Pod" in evaluation.notes[0]
    assert engine.mutate(KUBEADM_STATIC_POD, settings).changed_by == ()


def test_a_host_network_pod_configured_from_a_host_path_is_static_in_any_namespace() -> None:
    pod = {**KUBEADM_STATIC_POD, "metadata": {"name": "lb"}}
    workload = inspect_workload(pod)
    assert workload is not None and workload.static_pod


def test_an_ordinary_pod_is_not_static_and_is_judged() -> None:
    pod = _pod(metadata={"name": "lb", "namespace": "edge"}, containers=[{"name": "h", "image": "haproxy:3.2"}])
    workload = inspect_workload(pod)
    assert workload is not None and not workload.static_pod
    assert engine.check(pod, Settings()).denied


def test_mirror_pods_are_never_judged_or_patched() -> None:
    mirror = {
        **KUBEADM_STATIC_POD,
        "metadata": {
            "name": "haproxy-node1",
            "namespace": "kube-system",
            "annotations": {"kubernetes.io/config.mirror": "0f1e2d", "kubernetes.io/config.source": "file"},
        },
    }
    assert inspect_workload(mirror) is None
    assert engine.check(mirror, Settings()).subject is None
    assert engine.mutate(mirror, Settings()).mutated is mirror


def test_controller_messages_never_ask_to_edit_the_generated_configuration() -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "gw", "namespace": "gw"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "gw"}},
            "template": {
                "metadata": {"labels": {"app": "gw"}},
                "spec": {
                    "containers": [{"name": "gateway", "image": "docker.io/haproxytech/haproxy-unified-gateway:1.0.6"}]
                },
            },
        },
    }
    findings = engine.check(deployment, Settings()).findings
    assert {f.policy for f in findings} >= {"prestop-wait", "readiness-probe"}
    assert not any("haproxy.cfg" in f.message or "SIGUSR1" in f.message for f in findings), findings
