"""`certs rotate --secret`: the Kubernetes store against an API stand-in (an in-memory HTTPS server for one
Secret and the two webhook configurations; the kubernetes client, kubeconfig, TLS and JSON patches are real).
The end-to-end issue runs the same command against a real kube-apiserver."""

from __future__ import annotations

import base64
import datetime
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
from cryptography import x509

from haproxy_guard.certs.rotation import Policy, step
from tests.helpers import ROOT
from tests.stand_in import serve_https
from tests.webhook.test_cluster import _kubeconfig

SECRET_PATH = "/api/v1/namespaces/haproxy-guard/secrets/haproxy-guard-tls"
MUTATING = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/haproxy-guard"
VALIDATING = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/haproxy-guard"
STORE: dict[str, Any] = {}
EVENTS: list[str] = []


def _webhooks(kind: str, count: int) -> dict[str, Any]:
    hooks = [
        {"name": f"w{i}.haproxy-guard.io", "admissionReviewVersions": ["v1"], "sideEffects": "None",
         "clientConfig": {"service": {"name": "haproxy-guard", "namespace": "haproxy-guard", "path": "/validate"}}}
        for i in range(count)
    ]  # fmt: skip
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": "haproxy-guard"},
        "webhooks": hooks,
    }


class _Api(BaseHTTPRequestHandler):
    def _reply(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path in STORE:
            self._reply(200, STORE[path])
        else:
            self._reply(
                404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}
            )

    def do_POST(self) -> None:
        body = self._body()
        STORE[SECRET_PATH] = body
        EVENTS.append("secret")
        self._reply(201, body)

    def do_PUT(self) -> None:
        self.do_POST()

    def do_PATCH(self) -> None:
        path = self.path.split("?")[0]
        STORE[path] = jsonpatch.JsonPatch(self._body()).apply(STORE[path])
        EVENTS.append("bundle")
        self._reply(200, STORE[path])

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def kubeconfig(cert_dir: Path, tmp_path: Path) -> Iterator[Path]:
    STORE.clear()
    EVENTS.clear()
    STORE[MUTATING] = _webhooks("MutatingWebhookConfiguration", 1)
    STORE[VALIDATING] = _webhooks("ValidatingWebhookConfiguration", 3)
    with serve_https(_Api, cert_dir) as url:
        yield _kubeconfig(tmp_path / "config", url, cert_dir / "ca.crt")


def _rotate(kubeconfig: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "KUBERNETES_SERVICE_HOST"} | {"KUBECONFIG": str(kubeconfig)}
    return subprocess.run(
        [sys.executable, "-m", "haproxy_guard.cli.main", "certs", "rotate", "--secret", "haproxy-guard-tls",
         "--namespace", "haproxy-guard", "--service", "haproxy-guard", "--webhook-configuration", "haproxy-guard", *extra],
        capture_output=True, text=True, env=env, cwd=ROOT, check=False, timeout=60,
    )  # fmt: skip


def _bundles() -> set[str]:
    return {hook["clientConfig"]["caBundle"] for path in (MUTATING, VALIDATING) for hook in STORE[path]["webhooks"]}


def test_create_then_renew_publishing_the_bundle_first(kubeconfig: Path) -> None:
    created = _rotate(kubeconfig)
    assert created.returncode == 0, created.stderr
    assert "changed: created a CA and a serving certificate" in created.stdout
    assert EVENTS == ["bundle", "bundle", "secret"], "caBundle before the Secret"
    secret = STORE[SECRET_PATH]
    assert secret["type"] == "kubernetes.io/tls"
    data = {key: base64.b64decode(value) for key, value in secret["data"].items()}
    assert _bundles() == {base64.b64encode(data["ca.crt"]).decode()}, "every webhook of both configurations"
    served = x509.load_pem_x509_certificate(data["tls.crt"])
    names = served.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    )
    assert set(names) == {"haproxy-guard", "haproxy-guard.haproxy-guard", "haproxy-guard.haproxy-guard.svc"}

    assert "unchanged: nothing due" in _rotate(kubeconfig).stdout


def test_a_certificate_near_expiry_is_renewed_from_the_same_ca(kubeconfig: Path) -> None:
    names = ("haproxy-guard", "haproxy-guard.haproxy-guard", "haproxy-guard.haproxy-guard.svc")
    issued_earlier = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=10)
    old = step(None, Policy(names, days=31), issued_earlier).data  # expires in 21 days: inside the 30-day window
    STORE[SECRET_PATH] = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                          "metadata": {"name": "haproxy-guard-tls", "namespace": "haproxy-guard"},
                          "data": {k: base64.b64encode(v).decode() for k, v in old.items()}}  # fmt: skip
    renewed = _rotate(kubeconfig)
    assert "changed: renewed the serving certificate" in renewed.stdout, renewed.stdout + renewed.stderr
    assert EVENTS == ["bundle", "bundle", "secret"]
    data = {key: base64.b64decode(value) for key, value in STORE[SECRET_PATH]["data"].items()}
    assert data["tls.crt"] != old["tls.crt"] and data["ca.crt"] == old["ca.crt"]
    new = x509.load_pem_x509_certificate(data["tls.crt"])
    assert new.issuer == x509.load_pem_x509_certificate(old["ca-signing.crt"]).subject
    assert new.not_valid_after_utc - datetime.datetime.now(datetime.UTC) > datetime.timedelta(days=360)
    assert _bundles() == {base64.b64encode(old["ca.crt"]).decode()}


def test_bad_arguments_exit_2(kubeconfig: Path) -> None:
    result = _rotate(kubeconfig, "--days", "10", "--renew-before-days", "20")
    assert result.returncode == 2 and "renewal periods must be shorter" in result.stderr
