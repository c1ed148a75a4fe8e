"""`haproxy-guard certs rotate --secret` (the self-signed overlay's Job) against the real API server."""

from __future__ import annotations

import base64
import copy
import os
import subprocess
import sys

import pytest

from tests.e2e.conftest import ControlPlane, webhook_configurations
from tests.helpers import ROOT

pytestmark = pytest.mark.e2e


def test_rotation_creates_the_secret_and_injects_the_bundle(control_plane: ControlPlane) -> None:
    control_plane.apply(
        [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "hg-certs"}}]
    ).check_returncode()
    configurations = copy.deepcopy(webhook_configurations("https://127.0.0.1:1", b"placeholder"))
    for configuration in configurations:
        configuration["metadata"]["name"] = "hg-rotation"
        for webhook in configuration["webhooks"]:
            webhook["clientConfig"].pop("caBundle")
            webhook["namespaceSelector"] = {"matchLabels": {"never": "matches"}}
    control_plane.apply(configurations).check_returncode()

    def rotate() -> str:
        result = subprocess.run(
            [sys.executable, "-m", "haproxy_guard.cli.main", "certs", "rotate", "--secret", "haproxy-guard-tls",
             "--namespace", "hg-certs", "--service", "haproxy-guard", "--webhook-configuration", "hg-rotation"],
            capture_output=True, text=True, cwd=ROOT, env={**os.environ, "KUBECONFIG": str(control_plane.kubeconfig)},
            check=False, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert "changed: created a CA and a serving certificate" in rotate()
    secret = control_plane.get("secret", "haproxy-guard-tls", "hg-certs")
    assert secret is not None and secret["type"] == "kubernetes.io/tls"
    bundle = secret["data"]["ca.crt"]
    for kind in ("mutatingwebhookconfiguration", "validatingwebhookconfiguration"):
        stored = control_plane.get(kind, "hg-rotation", "default")
        assert stored is not None
        assert {webhook["clientConfig"]["caBundle"] for webhook in stored["webhooks"]} == {bundle}
    assert base64.b64decode(bundle).startswith(b"-----BEGIN CERTIFICATE-----")
    assert "unchanged: nothing due" in rotate()
