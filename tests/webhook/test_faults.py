"""Faults around the webhook give the documented answer, quickly, never a 500, a hang or a crash: an API server
that accepts connections and never answers while a workload mounting ConfigMaps is admitted; a validator
binary removed or crashing while serving; the certificate files deleted under a running server; a full disk
(in `tests/haproxy/test_hostile.py`)."""

from __future__ import annotations

import shutil
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest

from haproxy_guard.policies.context import Context
from haproxy_guard.policies.engine import check
from haproxy_guard.policies.haproxy.bundle import ConfigBundle
from haproxy_guard.policies.haproxy.validator import Validator, discover_binaries
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.webhook.configmaps import ClusterConfigMaps
from haproxy_guard.webhook.observability import Metrics
from tests.conftest import RunningServer
from tests.helpers import GOLDEN, load_yaml
from tests.webhook.test_cluster import cluster_client

VALID = (
    "defaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 1s\n"
    "frontend fe\n  bind :8080\n  default_backend be\nbackend be\n  server s 127.0.0.1:80\n"
)


@pytest.fixture
def silent_api_server() -> Iterator[str]:
    """Accepts TCP connections and never says a word (not even the TLS handshake)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    listener.close()


def test_a_silent_api_server_makes_mounted_configmaps_unavailable_quickly(
    silent_api_server: str, cert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = cluster_client(silent_api_server, cert_dir / "ca.crt", tmp_path, monkeypatch)
    workload = load_yaml(GOLDEN / "haproxy-config-valid" / "workload-runs-2.8" / "input.yaml")
    source = ClusterConfigMaps(client, timeout_seconds=1)
    started = time.monotonic()
    evaluation = check(workload, Settings(), context=Context(None, source))
    assert time.monotonic() - started < 5
    unavailable = [finding for finding in evaluation.findings if finding.policy == "haproxy-config-source"]
    assert unavailable and "could not be read" in unavailable[0].message, evaluation.findings


@pytest.fixture
def private_binary(tmp_path: Path) -> Path:
    """A copy of the 2.6 validator (Debian's, a plain binary) that the test may remove or break."""
    copy = tmp_path / "haproxy"
    shutil.copy2(discover_binaries()["2.6"], copy)
    return copy


def test_a_validator_binary_removed_while_serving(private_binary: Path) -> None:
    validator = Validator({"2.6": str(private_binary)})
    metrics = Metrics()
    validator.observers.append(metrics.observe_validation)
    assert validator.validate(ConfigBundle((("haproxy.cfg", VALID),))).valid
    private_binary.unlink()
    result = validator.validate(ConfigBundle((("haproxy.cfg", VALID + "# another\n"),)))
    assert not result.valid and result.unavailable and "not validated" in str(result.errors[0])
    again = validator.validate(ConfigBundle((("haproxy.cfg", VALID + "# another\n"),)))
    assert not again.cached, "a check that could not run is never cached"
    assert validator.problem() is not None, "/readyz turns 503: traffic moves to the other replicas"
    text = generate_latest(metrics.registry).decode()
    assert 'haproxy_guard_validator_duration_seconds_count{result="unavailable",version="2.6"} 2.0' in text


def test_a_crashing_validator_binary(private_binary: Path) -> None:
    private_binary.write_text("#!/bin/sh\nkill -SEGV $$\n")
    private_binary.chmod(0o755)
    validator = Validator({"2.6": str(private_binary)})
    result = validator.validate(ConfigBundle((("haproxy.cfg", VALID),)))
    assert not result.valid
    assert "stopped abnormally" in str(result.errors[0]) or "not validated" in str(result.errors[0])


@pytest.mark.slow
def test_certificate_files_deleted_under_a_running_server(rotating_server: RunningServer) -> None:
    ca = rotating_server.cert_dir.parent / "ca-kept.crt"
    ca.write_bytes(rotating_server.ca.read_bytes())
    with rotating_server.client() as client:
        assert client.get("/healthz").status_code == 200
    for entry in rotating_server.cert_dir.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    time.sleep(1)  # several poll periods of 0.2 s
    context = ssl.create_default_context(cafile=ca)
    with httpx.Client(base_url=rotating_server.url, verify=context, timeout=10) as client:
        assert client.get("/healthz").status_code == 200, "the certificate in memory keeps serving"
        assert client.get("/readyz").status_code == 200
    assert "keeping the current certificate" in rotating_server.log.read_text()
    assert rotating_server.process.poll() is None
