"""The kustomize self-signed overlay installed on the real node as its README says (`kubectl apply -k
manifests/overlays/self-signed`, the image set to the one `make test-image` built): the certificate Job writes
the caBundle, the webhook pods serve, a Deployment is stored mutated and a broken ConfigMap is denied. Runs
before the Helm install of the other node tests (tests/node/conftest.py orders it first) and removes itself
(`kubectl delete -k`)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.helpers import ROOT
from tests.node.cluster import BUILD, Node, new_namespace
from tests.node.conftest import GUARD_NAMESPACE, wait_for_webhooks
from tests.node.workloads import BROKEN_CFG, BROKEN_LINE, config_map, workload

pytestmark = [pytest.mark.node, pytest.mark.timeout(600)]
OVERLAY = ROOT / "manifests" / "overlays" / "self-signed"


def _rendered(node: Node) -> list[dict[str, Any]]:
    """`kubectl kustomize` of the overlay, with the image set as `kustomize edit set image` would."""
    text = node.run_in([str(BUILD / "kubectl"), "kustomize", str(OVERLAY)]).stdout
    objects = [o for o in yaml.safe_load_all(text) if o]
    assert objects, "kubectl kustomize rendered nothing"
    for obj in objects:
        spec = obj.get("spec", {})
        for template in (spec.get("template", {}), spec.get("jobTemplate", {}).get("spec", {}).get("template", {})):
            for container in template.get("spec", {}).get("containers", []):
                if container.get("image", "").startswith("haproxy-guard:"):
                    container["image"], container["imagePullPolicy"] = "localhost/haproxy-guard:test", "Never"
    return objects


def test_the_self_signed_overlay_installs_and_enforces(node: Node) -> None:
    assert node.get("namespace", GUARD_NAMESPACE, "") is None, (
        f"namespace {GUARD_NAMESPACE} exists already: the overlay must run before the Helm release is installed there"
    )
    objects = _rendered(node)
    applied = node.apply(objects)
    assert applied.returncode == 0, applied.stderr
    try:
        wait_for_webhooks(node, "haproxy-guard")
        ns = new_namespace(node)
        applied = node.apply([config_map("edge", ns), workload("Deployment", "edge", ns, "2.6")])
        assert applied.returncode == 0, applied.stderr
        stored = node.get("deployment", "edge", ns)
        assert stored is not None
        assert "preStop" in stored["spec"]["template"]["spec"]["containers"][0].get("lifecycle", {})
        denied = node.apply([config_map("broken", ns, BROKEN_CFG)])
        assert denied.returncode != 0 and f"haproxy.cfg:{BROKEN_LINE}:" in denied.stderr, denied.stderr
        node.kubectl("delete", "namespace", ns, "--wait=false")
    finally:
        deleted = node.kubectl(
            "delete", "-f", "-", "--wait=true", "--ignore-not-found", stdin=yaml.safe_dump_all(objects), timeout=180
        )
        assert deleted.returncode == 0, deleted.stderr
