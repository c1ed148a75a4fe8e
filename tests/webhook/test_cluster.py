"""Reading the Kubernetes version from an API server, through a kubeconfig and the kubernetes client.

The API server here is a stand-in: a local HTTPS server answering `GET /version` and one ConfigMap read
like kube-apiserver does
(a real kube-apiserver arrives with the end-to-end issue). The client, kubeconfig parsing, TLS
verification and timeout handling are the real ones.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from haproxy_guard.cli.main import _effective_settings
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.webhook.cluster import api_client, discover_kubernetes_version
from haproxy_guard.webhook.configmaps import ClusterConfigMaps
from tests.conftest import free_port
from tests.stand_in import serve_https

VERSION = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.2",
    "gitCommit": "0" * 40,
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.23.2",
    "compiler": "gc",
    "platform": "linux/amd64",
}


CONFIGMAP = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "edge-haproxy", "namespace": "edge"},
    "data": {"haproxy.cfg": "global\n  maxconn 100\n"},
}
REQUESTS: list[str] = []


class _VersionHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        REQUESTS.append(self.path)
        path = self.path.split("?")[0].rstrip("/")
        payload = {"/version": VERSION, "/api/v1/namespaces/edge/configmaps/edge-haproxy": CONFIGMAP}.get(path)
        found = payload is not None
        body = json.dumps(payload if found else {"kind": "Status", "code": 404}).encode()
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _kubeconfig(path: Path, server: str, ca: Path) -> Path:
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server, "certificate-authority": str(ca)}}],
                "users": [{"name": "u", "user": {"token": "test-token"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return path


@pytest.fixture
def api_server(cert_dir: Path) -> Iterator[str]:
    with serve_https(_VersionHandler, cert_dir) as url:
        yield url


def test_version_is_read_through_the_kubeconfig(
    api_server: str, cert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(_kubeconfig(tmp_path / "config", api_server, cert_dir / "ca.crt")))
    assert discover_kubernetes_version(api_client()) == "v1.31.2"
    settings = _effective_settings(Settings(), api_client())
    assert settings.kubernetes_version == "v1.31.2"
    assert settings.supports_sleep_action()


def test_a_configured_version_wins_and_discovery_can_be_disabled(
    api_server: str, cert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(_kubeconfig(tmp_path / "config", api_server, cert_dir / "ca.crt")))
    assert _effective_settings(Settings(kubernetes_version="1.28"), api_client()).kubernetes_version == "1.28"
    assert _effective_settings(Settings(discover_kubernetes_version=False), api_client()).kubernetes_version is None


def test_an_unreachable_or_absent_api_server_means_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    assert discover_kubernetes_version(api_client()) is None
    closed = f"https://127.0.0.1:{free_port()}"
    monkeypatch.setenv("KUBECONFIG", str(_kubeconfig(tmp_path / "config", closed, tmp_path / "absent-ca.crt")))
    assert discover_kubernetes_version(api_client(), timeout=1) is None


def cluster_client(url: str, ca: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A kubernetes client for the API server at `url` (through a kubeconfig, never the in-cluster one)."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(_kubeconfig(tmp_path / "config", url, ca)))
    client = api_client()
    assert client is not None
    return client


def test_mounted_configmaps_are_read_from_the_api_server_and_cached(
    api_server: str, cert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = cluster_client(api_server, cert_dir / "ca.crt", tmp_path, monkeypatch)
    source = ClusterConfigMaps(client, timeout_seconds=1, ttl_seconds=60)
    REQUESTS.clear()
    first = source("edge", "edge-haproxy")
    assert first is not None and first["data"]["haproxy.cfg"].startswith("global")
    assert source("edge", "edge-haproxy") == first
    assert len([r for r in REQUESTS if "configmaps" in r]) == 1, "the second read is served from the cache"
    assert source("edge", "absent") is None


def test_an_unreachable_api_server_means_unavailable_quickly(
    cert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    closed = f"https://127.0.0.1:{free_port()}"
    monkeypatch.setenv("KUBECONFIG", str(_kubeconfig(tmp_path / "config", closed, cert_dir / "ca.crt")))
    client = api_client()
    assert client is not None
    started = time.monotonic()
    assert ClusterConfigMaps(client, timeout_seconds=1)("edge", "edge-haproxy") is None
    assert time.monotonic() - started < 5
