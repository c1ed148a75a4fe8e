"""The project's own pods pass the real PodSecurity admission plugin at level "restricted"."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import BUILD, ControlPlane
from tests.helpers import ROOT

pytestmark = pytest.mark.e2e


def _pod_templates() -> list[tuple[str, dict[str, Any]]]:
    rendered = subprocess.run(
        [str(BUILD / "kubectl"), "kustomize", str(ROOT / "manifests" / "overlays" / "self-signed")],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    templates = []
    for obj in yaml.safe_load_all(rendered):
        if obj and obj["kind"] in {"Deployment", "Job"}:
            templates.append((obj["metadata"]["name"], obj["spec"]["template"]["spec"]))
        elif obj and obj["kind"] == "CronJob":
            templates.append((obj["metadata"]["name"], obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]))
    return templates


def test_own_pods_are_admitted_under_restricted(control_plane: ControlPlane) -> None:
    namespace = "hg-restricted"
    labels = {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
    }
    control_plane.apply(
        [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": labels}}]
    ).check_returncode()
    templates = _pod_templates()
    assert {name for name, _ in templates} == {"haproxy-guard", "haproxy-guard-certs-init", "haproxy-guard-certs"}
    for name, spec in templates:
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"{name}-check", "namespace": namespace},
            "spec": spec,
        }
        result = control_plane.apply([pod], "--dry-run=server")
        assert result.returncode == 0, f"{name}: {result.stderr}"
    baseline_only = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "control", "namespace": namespace},
                     "spec": {"containers": [{"name": "c", "image": "busybox"}]}}  # fmt: skip
    refused = control_plane.apply([baseline_only], "--dry-run=server")
    assert refused.returncode != 0 and "violates PodSecurity" in refused.stderr, "the plugin is really enforcing"
