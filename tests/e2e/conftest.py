"""The end-to-end control plane: a real kube-apiserver (embedded etcd) and kubectl, both built from the
Kubernetes Go modules at the release pinned in tests/e2e/apiserver/go.mod (scripts/build-e2e.sh), and the
webhook as a local process registered through the webhook configurations from manifests/."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from haproxy_guard.certs.authority import generate
from tests.conftest import RunningServer, start_server, stop_server
from tests.helpers import ROOT

BUILD = ROOT / ".cache" / "e2e"


@dataclass
class ControlPlane:
    kubeconfig: Path

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = False) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(BUILD / "kubectl"), *args], input=stdin, capture_output=True, text=True, timeout=60,
            env={**os.environ, "KUBECONFIG": str(self.kubeconfig)}, check=False,
        )  # fmt: skip
        if check:
            assert result.returncode == 0, result.stderr
        return result

    def apply(self, objects: list[dict[str, Any]], *args: str) -> subprocess.CompletedProcess[str]:
        return self.kubectl("apply", *args, "-f", "-", stdin=yaml.safe_dump_all(objects))

    def get(self, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        result = self.kubectl("get", kind, name, "-n", namespace, "-o", "json")
        return json.loads(result.stdout) if result.returncode == 0 else None


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    started = time.monotonic()
    # Built by `make e2e-tools` before pytest (`make test` and `make e2e` do), never here inside a timeout.
    check = subprocess.run(
        [str(ROOT / "scripts" / "build-e2e.sh"), "--check"], capture_output=True, text=True, check=False
    )
    state = check.stdout.strip() or "missing"
    if state != "fresh":
        pytest.fail(
            f"kube-apiserver and kubectl are {state}: run `make e2e-tools` first (`make test` does)", pytrace=False
        )
    folder = tmp_path_factory.mktemp("apiserver")
    with (folder / "apiserver.log").open("wb") as log:
        process = subprocess.Popen(
            [str(BUILD / "apiserver.test"), "-test.run", "TestServe", "-test.timeout", "0"],
            env={**os.environ, "HG_E2E_DIR": str(folder)}, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + 120
    while not (folder / "kubeconfig").exists():
        assert process.poll() is None and time.monotonic() < deadline, (folder / "apiserver.log").read_text()[-3000:]
        time.sleep(0.2)
    print(f"control plane ready in {time.monotonic() - started:.1f}s")
    yield ControlPlane(folder / "kubeconfig")
    (folder / "stop").touch()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def webhook_configurations(url: str, ca: bytes) -> list[dict[str, Any]]:
    """The webhook configurations from manifests/base, pointed at `url` with the real caBundle."""
    rendered = subprocess.run(
        [str(BUILD / "kubectl"), "kustomize", str(ROOT / "manifests" / "base")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    configurations = [o for o in yaml.safe_load_all(rendered) if o and o["kind"].endswith("WebhookConfiguration")]
    for configuration in configurations:
        for webhook in configuration["webhooks"]:
            path = webhook["clientConfig"]["service"]["path"]
            webhook["clientConfig"] = {"url": f"{url}{path}", "caBundle": base64.b64encode(ca).decode()}
    return configurations


@dataclass
class Webhook:
    server: RunningServer | None
    url: str
    ca: bytes


def register(control_plane: ControlPlane, url: str, ca: bytes) -> None:
    control_plane.apply(webhook_configurations(url, ca), "--server-side", "--force-conflicts").check_returncode()
    time.sleep(2)  # the API server's informers pick up webhook configuration changes


def start_webhook(control_plane: ControlPlane, folder: Path, settings: str = "") -> Webhook:
    generate(folder / "certs", ["localhost", "127.0.0.1"])
    (folder / "settings.yaml").write_text(settings or "{}\n")
    server = start_server(
        folder / "certs",
        folder / "webhook.log",
        ["--settings", str(folder / "settings.yaml")],
        control_plane.kubeconfig,
    )
    port = server.url.rsplit(":", 1)[1]
    webhook = Webhook(server, f"https://127.0.0.1:{port}", (folder / "certs" / "ca.crt").read_bytes())
    register(control_plane, webhook.url, webhook.ca)
    return webhook


@pytest.fixture(scope="module")
def webhook(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Webhook]:
    running = start_webhook(control_plane, tmp_path_factory.mktemp("webhook"))
    yield running
    if running.server:
        stop_server(running.server)
