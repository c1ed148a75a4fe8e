"""Audit mode and the failure design, as the API server really applies failurePolicy and timeouts."""

from __future__ import annotations

import http.server
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from haproxy_guard.certs.authority import generate
from tests.conftest import stop_server
from tests.e2e.conftest import ControlPlane, register, start_webhook
from tests.e2e.test_enforcement import DEPLOYMENT, EXAMPLES, INVALID_CONFIG, namespace, placed
from tests.stand_in import serve_https

pytestmark = pytest.mark.e2e


def _labelled(ns: str) -> dict[str, object]:
    configmap = placed([INVALID_CONFIG], ns)[0]
    configmap["metadata"]["name"] = "labelled-config"
    configmap["metadata"]["labels"] = {"haproxy-guard.io/config": "true"}
    return configmap


def test_audit_mode_stores_an_invalid_configmap_and_kubectl_prints_the_warnings(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    hook = start_webhook(control_plane, tmp_path, "mode: audit\n")
    try:
        ns = namespace(control_plane)
        result = control_plane.apply(placed([INVALID_CONFIG], ns))
        assert result.returncode == 0, result.stderr
        assert "Warning: [haproxy-config-valid] haproxy.cfg:19: error detected" in result.stderr
        assert control_plane.get("configmap", INVALID_CONFIG["metadata"]["name"], ns) is not None
    finally:
        assert hook.server is not None
        stop_server(hook.server)


def test_with_the_webhook_stopped_each_webhook_follows_its_failure_policy(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    hook = start_webhook(control_plane, tmp_path)
    assert hook.server is not None
    stop_server(hook.server)  # the configurations still point at it: connection refused
    ns = namespace(control_plane)
    opted_out = namespace(control_plane, {"haproxy-guard.io/ignore": "true"})

    others = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "edge", "namespace": ns},
            "spec": {"ports": [{"port": 80}]},
        },
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "edge", "namespace": ns}, "stringData": {"a": "b"}},
    ]
    assert control_plane.apply(others).returncode == 0, "kinds the webhook does not handle"

    deployment = control_plane.apply(placed([DEPLOYMENT], ns))
    assert deployment.returncode == 0, "mutation and workload validation fail open"
    stored = control_plane.get("deployment", "edge-haproxy", ns)
    assert stored is not None and "lifecycle" not in stored["spec"]["template"]["spec"]["containers"][0]

    unlabelled = control_plane.apply(placed([INVALID_CONFIG], ns))
    assert unlabelled.returncode == 0, "unlabelled ConfigMaps fail open"

    refused = control_plane.apply([_labelled(ns)])
    assert refused.returncode != 0 and "failed calling webhook" in refused.stderr, "labelled configurations fail closed"

    for free_namespace in ("kube-system", opted_out):
        assert control_plane.apply([_labelled(free_namespace)]).returncode == 0, f"{free_namespace} is never sent"


class _Slow(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        time.sleep(8)
        self.send_response(500)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def slow_webhook(tmp_path: Path) -> Iterator[tuple[str, bytes]]:
    generate(tmp_path / "certs", ["127.0.0.1"])
    with serve_https(_Slow, tmp_path / "certs", host="127.0.0.1") as url:
        yield url, (tmp_path / "certs" / "ca.crt").read_bytes()


def test_a_webhook_slower_than_its_timeout(control_plane: ControlPlane, slow_webhook: tuple[str, bytes]) -> None:
    register(control_plane, *slow_webhook)
    ns = namespace(control_plane)
    started = time.monotonic()
    deployment = control_plane.apply(placed([DEPLOYMENT], ns))
    assert deployment.returncode == 0, "Ignore: admitted once the 3 s (mutate) and 5 s (validate) timeouts pass"
    assert 3 <= time.monotonic() - started < 15
    started = time.monotonic()
    refused = control_plane.apply([_labelled(ns)])
    elapsed = time.monotonic() - started
    assert refused.returncode != 0 and "failed calling webhook" in refused.stderr
    assert "deadline exceeded" in refused.stderr or "timeout" in refused.stderr.lower()
    assert 5 <= elapsed < 15, f"refused after the 5 s timeout ({elapsed:.1f}s)"
    assert control_plane.apply(placed(EXAMPLES[1:], ns)).returncode == 0, "a PDB is not handled: unaffected"
