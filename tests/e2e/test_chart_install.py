"""`helm install` of charts/haproxy-guard on the real kube-apiserver, and the example Deployment mutated (and a
broken ConfigMap denied) through the chart's own webhook configurations. The API server has no nodes, so the
chart's Deployment never runs: the webhook is the local process, served with the certificate Helm generated
(certificates.mode=helm) and reached through webhooks.url, as a webhook outside the cluster would be."""

from __future__ import annotations

import base64
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningServer, start_server, stop_server
from tests.e2e.conftest import ControlPlane
from tests.e2e.test_enforcement import DEPLOYMENT, EXAMPLES, INVALID_CONFIG, namespace, placed
from tests.ship.rendering import CHART, helm_binary

pytestmark = pytest.mark.e2e
RELEASE, RELEASE_NAMESPACE = "guard", "guard-system"
FULLNAME = "guard-haproxy-guard"


def _helm(control_plane: ControlPlane, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """helm against the e2e API server, its cache beside the kubeconfig (never the user's)."""
    result = subprocess.run(
        [helm_binary(), *args, "--namespace", RELEASE_NAMESPACE], capture_output=True, text=True, timeout=120,
        env={**os.environ, "KUBECONFIG": str(control_plane.kubeconfig), "HELM_CACHE_HOME": str(control_plane.kubeconfig.parent / "helm")},
        check=False,
    )  # fmt: skip
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def _secret(control_plane: ControlPlane) -> dict[str, bytes]:
    secret = control_plane.get("secret", f"{FULLNAME}-tls", RELEASE_NAMESPACE)
    assert secret is not None, "the chart's Secret was not created"
    return {key: base64.b64decode(value) for key, value in secret["data"].items()}


def _configurations(control_plane: ControlPlane) -> list[dict[str, Any]]:
    found = []
    for kind in ("mutatingwebhookconfiguration", "validatingwebhookconfiguration"):
        configuration = control_plane.get(kind, FULLNAME, "")
        assert configuration is not None, kind
        found.append(configuration)
    return found


@dataclass
class ChartInstall:
    server: RunningServer
    output: str  # what `helm install` printed (its NOTES included)


@pytest.fixture(scope="module")
def chart_webhook(chart_install: ChartInstall) -> RunningServer:
    return chart_install.server


@pytest.fixture(scope="module")
def chart_install(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChartInstall]:
    # Other modules' configurations point at webhook processes that are gone: only the chart's may answer here.
    control_plane.kubectl("delete", "mutatingwebhookconfigurations,validatingwebhookconfigurations", "--all")
    installed = _helm(
        control_plane, "install", RELEASE, str(CHART), "--create-namespace",
        "--set", "certificates.mode=helm", "--set", "certificates.dnsNames[0]=localhost",
        "--set", "certificates.ipAddresses[0]=127.0.0.1", "--set", "webhooks.url=https://127.0.0.1:1",
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("chart-webhook")
    certs = folder / "certs"
    certs.mkdir()
    for name, content in _secret(control_plane).items():
        (certs / name).write_bytes(content)
    (folder / "settings.yaml").write_text("{}\n")
    server = start_server(
        certs, folder / "webhook.log", ["--settings", str(folder / "settings.yaml")], control_plane.kubeconfig
    )
    try:
        port = server.url.rsplit(":", 1)[1]
        _helm(
            control_plane,
            "upgrade",
            RELEASE,
            str(CHART),
            "--reuse-values",
            "--set",
            f"webhooks.url=https://127.0.0.1:{port}",
        )
        time.sleep(2)  # the API server's informers pick up webhook configuration changes
        yield ChartInstall(server, installed.stdout)
    finally:
        stop_server(server)
        _helm(control_plane, "uninstall", RELEASE, "--wait", check=False)


def test_the_chart_installs_every_object(control_plane: ControlPlane, chart_webhook: RunningServer) -> None:
    for kind, name in (
        ("deployment", FULLNAME), ("service", FULLNAME), ("service", f"{FULLNAME}-metrics"),
        ("configmap", f"{FULLNAME}-settings"), ("serviceaccount", FULLNAME), ("poddisruptionbudget", FULLNAME),
        ("networkpolicy", FULLNAME),
    ):  # fmt: skip
        assert control_plane.get(kind, name, RELEASE_NAMESPACE) is not None, f"{kind}/{name}"
    for kind in ("clusterrole", "clusterrolebinding"):
        assert control_plane.get(kind, f"{FULLNAME}-webhook", "") is not None, kind


def test_an_upgrade_keeps_the_generated_certificate(control_plane: ControlPlane, chart_webhook: RunningServer) -> None:
    """The fixture upgraded the release after reading the Secret: the certificate the webhook serves is still
    the stored one, and every webhook trusts its CA and calls the new URL."""
    served = (Path(chart_webhook.cert_dir) / "tls.crt").read_bytes()
    secret = _secret(control_plane)
    assert secret["tls.crt"] == served, "the upgrade generated a new certificate instead of keeping the stored one"
    port = chart_webhook.url.rsplit(":", 1)[1]
    for configuration in _configurations(control_plane):
        for webhook in configuration["webhooks"]:
            client = webhook["clientConfig"]
            assert base64.b64decode(client["caBundle"]) == secret["ca.crt"], webhook["name"]
            assert client["url"].startswith(f"https://127.0.0.1:{port}/"), webhook["name"]


def test_kubectl_apply_is_mutated_through_the_charts_webhook(
    control_plane: ControlPlane, chart_webhook: RunningServer
) -> None:
    ns = namespace(control_plane)
    control_plane.apply(placed(EXAMPLES, ns)).check_returncode()
    applied = control_plane.apply(placed([DEPLOYMENT], ns))
    assert applied.returncode == 0, applied.stderr
    stored = control_plane.get("deployment", DEPLOYMENT["metadata"]["name"], ns)
    assert stored is not None
    pod = stored["spec"]["template"]["spec"]
    assert pod["containers"][0]["lifecycle"]["preStop"] == {"sleep": {"seconds": 10}}
    assert pod["terminationGracePeriodSeconds"] == 45
    # the API server's 25% default stops no pod at the example's 3 replicas (rounded down): nothing to change
    assert stored["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == "25%"
    assert "haproxy-guard.io/config-hash" in stored["spec"]["template"]["metadata"]["annotations"]


def test_a_broken_labelled_configmap_is_denied_through_the_charts_webhook(
    control_plane: ControlPlane, chart_webhook: RunningServer
) -> None:
    ns = namespace(control_plane)
    refused = control_plane.apply(placed([INVALID_CONFIG], ns))
    assert refused.returncode != 0
    assert "haproxy-guard denied ConfigMap" in refused.stderr and "haproxy.cfg:19:" in refused.stderr


def test_the_release_namespace_is_never_sent(control_plane: ControlPlane, chart_webhook: RunningServer) -> None:
    """The chart's namespaceSelector leaves its own namespace out: a broken labelled ConfigMap there is
    stored (no self-hosting deadlock)."""
    invalid = placed([INVALID_CONFIG], RELEASE_NAMESPACE)[0]
    invalid["metadata"]["name"] = f"unchecked-{uuid.uuid4().hex[:6]}"
    stored = control_plane.apply([invalid])
    assert stored.returncode == 0, stored.stderr


def test_the_install_notes_say_what_to_do_next(chart_install: ChartInstall) -> None:
    notes = chart_install.output.split("NOTES:", 1)[1]
    assert f"is installed in namespace {RELEASE_NAMESPACE} (2 replicas, settings mode: enforce)" in notes
    assert "generated by Helm (valid 3650 days, kept on upgrades" in notes
    assert f"rollout status deployment/{FULLNAME}" in notes
    assert f"kubectl label namespace {RELEASE_NAMESPACE} pod-security.kubernetes.io/enforce=restricted" in notes
