"""What the install paths render: the kustomize overlays (kubectl's built-in kustomize) and the Helm chart
(`helm template` of the helm built by scripts/build-go-tool.sh), as lists of objects; and the normalisation
under which the two must be equal (Helm's bookkeeping labels, its settings checksum and the revision in the
certificate Job's name are the only differences)."""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from typing import Any

import pytest
import yaml

from tests.helpers import ROOT

CHART = ROOT / "charts" / "haproxy-guard"
HELM = ROOT / ".cache" / "tools" / "helm"
HELM_LABELS = frozenset(
    {"app.kubernetes.io/instance", "app.kubernetes.io/managed-by", "app.kubernetes.io/version", "helm.sh/chart"}
)
# Chart variants by name: the `helm template` arguments that make each.
CHART_VARIANTS: dict[str, tuple[str, ...]] = {
    "chart": (),
    "chart:cert-manager": ("--set", "certificates.mode=cert-manager"),
    "chart:helm-certificates": ("--set", "certificates.mode=helm"),
    "chart:audit": ("--set", "settings.mode=audit"),
    "chart:no-rollout-controller": ("--set", "settings.rolloutController.enabled=false"),
    "chart:api-server-only": ("--set", "networkPolicy.webhookFrom[0].ipBlock.cidr=192.0.2.0/24"),
    "chart:monitoring": (
        "--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.prometheusRule.enabled=true",
        "--set", "metrics.dashboard.enabled=true",
    ),
}  # fmt: skip


def helm_binary() -> str:
    if not HELM.exists():  # built by `make e2e-tools` (scripts/build-go-tool.sh helm), never inside a test
        pytest.fail("helm is missing: run `make e2e-tools` first (`make test` does)", pytrace=False)
    return str(HELM)


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([helm_binary(), *args], capture_output=True, text=True, check=False, timeout=60)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@cache
def render_chart(*args: str, release: str = "haproxy-guard", namespace: str = "haproxy-guard") -> list[dict[str, Any]]:
    output = helm("template", release, str(CHART), "--namespace", namespace, *args).stdout
    return [doc for doc in yaml.safe_load_all(output) if doc]


@cache
def render_kustomize(overlay: str) -> list[dict[str, Any]]:
    built = ROOT / ".cache" / "e2e" / "kubectl"  # kubectl of the pinned release, when the e2e build ran
    kubectl = str(built) if built.exists() else shutil.which("kubectl")
    assert kubectl, "kubectl (with its built-in kustomize) is needed: run scripts/build-e2e.sh or install kubectl"
    output = subprocess.run(
        [kubectl, "kustomize", str(ROOT / "manifests" / overlay)], capture_output=True, text=True, check=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(output) if doc]


def render(source: str) -> list[dict[str, Any]]:
    """A kustomize overlay ("base", "overlays/...") or a chart variant ("chart...")."""
    if source.startswith("chart"):
        return render_chart(*CHART_VARIANTS[source])
    return render_kustomize(source)


def _normalised_value(key: str, value: Any) -> Any:
    """One mapping entry's value with Helm's bookkeeping removed (None: drop the entry)."""
    labels = key in {"labels", "matchLabels", "selector"} and isinstance(value, dict)
    if labels and all(isinstance(item, str) for item in value.values()):
        return {name: item for name, item in value.items() if name not in HELM_LABELS}
    if key == "annotations" and isinstance(value, dict):
        return {name: item for name, item in value.items() if name != "checksum/settings"} or None
    if key == "settings.yaml" and isinstance(value, str):
        return yaml.safe_load(value)
    return value


def _normalised(node: Any) -> Any:
    if isinstance(node, dict):
        entries = ((key, _normalised_value(key, value)) for key, value in node.items())
        return {key: _normalised(value) for key, value in entries if value is not None}
    if isinstance(node, list):
        return [_normalised(item) for item in node]
    return node


def comparable(objects: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
    """Objects by (kind, name) with Helm's bookkeeping taken out; the chart's certificate Job carries the
    release revision in its name (haproxy-guard-certs-init-1), which is dropped here."""
    keyed = {}
    for obj in objects:
        name = obj["metadata"]["name"]
        if obj["kind"] == "Job" and "helm.sh/chart" in obj["metadata"].get("labels", {}):
            name, _, revision = name.rpartition("-")
            assert revision.isdigit(), obj["metadata"]["name"]
        normalised = _normalised(obj)
        normalised["metadata"]["name"] = name
        keyed[(obj["kind"], name)] = normalised
    return keyed
