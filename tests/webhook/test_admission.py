"""The webhook's decisions, in process: patches applied with `jsonpatch`, schema-checked and idempotent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from haproxy_guard.policies import engine
from haproxy_guard.policies.context import Context
from haproxy_guard.policies.model.findings import Finding, Severity
from haproxy_guard.policies.model.settings import Mode, Settings
from haproxy_guard.webhook.admission import MAX_AUDIT_ANNOTATION_CHARS, Admission, _findings_annotation
from haproxy_guard.webhook.app import create_app
from haproxy_guard.webhook.review import AdmissionRequest, parse_review
from haproxy_guard.webhook.warnings import BUDGET_RUNES
from tests.helpers import (
    GOLDEN,
    apply_patch,
    assert_valid_kubernetes,
    decoded_patch,
    golden_id,
    golden_inputs,
    load_yaml,
    review,
)

NGINX = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]},
        },
    },
}
SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "edge", "namespace": "default"}, "spec": {}}
SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls", "namespace": "default"}, "data": {}}


def _client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        yield client


@pytest.fixture
def client() -> Iterator[TestClient]:
    yield from _client(Settings())


def _post(client: TestClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = client.post(path, json=body)
    assert reply.status_code == 200, reply.text
    payload: dict[str, Any] = reply.json()
    assert payload["apiVersion"] == "admission.k8s.io/v1" and payload["kind"] == "AdmissionReview"
    assert payload["response"]["uid"] == body["request"]["uid"]
    response: dict[str, Any] = payload["response"]
    return response


@pytest.mark.parametrize("operation", ["CREATE", "UPDATE"])
@pytest.mark.parametrize("input_path", golden_inputs(), ids=golden_id)
def test_mutation_patch_is_valid_and_idempotent(client: TestClient, input_path: Path, operation: str) -> None:
    obj = load_yaml(input_path)
    old = obj if operation == "UPDATE" else None
    response = _post(client, "/mutate", review(obj, operation, old=old))
    assert response["allowed"] is True
    patched = apply_patch(obj, decoded_patch(response))
    assert patched == engine.mutate(obj, Settings(), operation=operation).mutated
    assert_valid_kubernetes(patched)
    second = _post(client, "/mutate", review(patched, "UPDATE", old=patched))
    assert decoded_patch(second) is None, "a second pass must return no patch"


@pytest.mark.parametrize("obj", [NGINX, SERVICE, SECRET], ids=["nginx-deployment", "service", "secret"])
@pytest.mark.parametrize("path", ["/mutate", "/validate"])
def test_other_objects_are_allowed_untouched(client: TestClient, obj: dict[str, Any], path: str) -> None:
    response = _post(client, path, review(obj))
    assert response == {"uid": response["uid"], "allowed": True}


MIRROR_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "haproxy-node-1",
        "namespace": "kube-system",
        "annotations": {"kubernetes.io/config.mirror": "4f0c2e", "kubernetes.io/config.source": "file"},
    },
    "spec": {"hostNetwork": True, "containers": [{"name": "haproxy", "image": "haproxy:3.2"}]},
}
DATAPLANE_SIDECAR: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "api", "namespace": "default"},
    "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {
                        "name": "api",
                        "image": "haproxytech/haproxy-debian:3.0",
                        "command": ["dataplaneapi", "-f", "/d.yml"],
                    }
                ]
            },
        },
    },
}


@pytest.mark.parametrize("operation", ["CREATE", "UPDATE"])
@pytest.mark.parametrize("obj", [MIRROR_POD, DATAPLANE_SIDECAR], ids=["mirror-pod", "dataplane-api-from-haproxy-image"])
@pytest.mark.parametrize("path", ["/mutate", "/validate"])
def test_the_webhook_never_acts_on_mirror_pods_or_non_haproxy_commands(
    client: TestClient, obj: dict[str, Any], path: str, operation: str
) -> None:
    response = _post(client, path, review(obj, operation, old=obj if operation == "UPDATE" else None))
    assert response == {"uid": response["uid"], "allowed": True}


@pytest.mark.parametrize("operation", ["DELETE", "CONNECT"])
@pytest.mark.parametrize("path", ["/mutate", "/validate"])
def test_delete_and_connect_are_allowed(client: TestClient, operation: str, path: str) -> None:
    old = load_yaml(GOLDEN / "deployment-recreate" / "recreate" / "input.yaml")
    response = _post(client, path, review(None, operation, old=old))
    assert response == {"uid": response["uid"], "allowed": True}


def test_validate_denies_with_reasons_and_warns(client: TestClient) -> None:
    obj = load_yaml(GOLDEN / "deployment-recreate" / "recreate" / "input.yaml")
    response = _post(client, "/validate", review(obj))
    assert response["allowed"] is False
    assert response["status"]["code"] == 403
    message = response["status"]["message"]
    assert message.startswith("haproxy-guard denied Deployment edge/edge: ")
    for policy in ("deployment-recreate", "prestop-wait", "termination-grace-period"):
        assert f"[{policy}]" in message
    assert any(w.startswith("[readiness-probe] ") for w in response["warnings"])
    assert sum(len(w) for w in response["warnings"]) <= BUDGET_RUNES
    assert not any(w.endswith("…") for w in response["warnings"]), "whole findings, never cut at 256"
    assert response["auditAnnotations"]["denied-by"] == "deployment-recreate,prestop-wait,termination-grace-period"


def test_validate_allows_what_mutation_produced(client: TestClient) -> None:
    obj = load_yaml(GOLDEN / "readiness-probe" / "tcp-probe-with-endpoint" / "input.yaml")
    patched = apply_patch(obj, decoded_patch(_post(client, "/mutate", review(obj))))
    response = _post(client, "/validate", review(patched))
    assert response["allowed"] is True


def test_dry_run_gets_the_same_answer(client: TestClient) -> None:
    obj = load_yaml(GOLDEN / "deployment-recreate" / "recreate" / "input.yaml")
    for path in ("/mutate", "/validate"):
        normal = _post(client, path, review(obj, uid="same"))
        dry = _post(client, path, review(obj, uid="same", dry_run=True))
        assert normal == dry


def test_audit_mode_denies_nothing_and_warns_everything() -> None:
    obj = load_yaml(GOLDEN / "deployment-recreate" / "recreate" / "input.yaml")
    for client in _client(Settings(mode=Mode.AUDIT)):
        response = _post(client, "/validate", review(obj))
        assert response["allowed"] is True
        assert any(w.startswith("[deployment-recreate] ") for w in response["warnings"])
        assert "denied-by" not in response["auditAnnotations"]


def test_skip_is_reported_by_both_webhooks_and_changes_nothing(client: TestClient) -> None:
    obj = load_yaml(GOLDEN / "skip-annotation" / "skipped" / "input.yaml")
    for path in ("/mutate", "/validate"):
        response = _post(client, path, review(obj))
        assert response["allowed"] is True
        assert decoded_patch(response) is None
        assert [w.split("]")[0] for w in response["warnings"]] == ["[skip-annotation"]


def test_mutation_reports_which_policies_changed_the_object(client: TestClient) -> None:
    obj = load_yaml(GOLDEN / "prestop-wait" / "missing-exec" / "input.yaml")
    response = _post(client, "/mutate", review(obj))
    assert response["auditAnnotations"]["mutated-by"].split(",") == [
        "prestop-wait",
        "termination-grace-period",
        "deployment-rolling-update",
    ]


def test_every_finding_is_in_the_audit_annotation(client: TestClient) -> None:
    obj = load_yaml(GOLDEN / "deployment-recreate" / "recreate" / "input.yaml")
    response = _post(client, "/validate", review(obj))
    recorded = json.loads(response["auditAnnotations"]["findings"])
    assert recorded[0].startswith("[prestop-wait] (deny) container haproxy has no preStop wait")
    assert any(entry.startswith("[readiness-probe] (warn)") for entry in recorded)
    assert len(recorded) == len(response["warnings"]) + response["status"]["message"].count("; [") + 1


def _request(body: dict[str, Any]) -> AdmissionRequest:
    return parse_review(json.dumps(body).encode())


def test_only_requests_that_may_wait_on_io_leave_the_event_loop() -> None:
    def source(namespace: str | None, name: str) -> dict[str, Any] | None:
        return None

    with_cluster = Admission(Settings(), Context(None, source))
    mounting = _request(review(load_yaml(GOLDEN / "config-hash" / "missing" / "input.yaml")))
    plain = _request(review(load_yaml(GOLDEN / "prestop-wait" / "missing-exec" / "input.yaml")))
    assert with_cluster.prepare(mounting).blocking, "reads mounted ConfigMaps"
    assert not with_cluster.prepare(plain).blocking, "mounts nothing"
    assert not Admission(Settings()).prepare(mounting).blocking, "no source: nothing to read"
    configmap = _request(review(load_yaml(GOLDEN / "haproxy-config-valid" / "valid-configmap" / "input.yaml")))
    assert not Admission(Settings()).prepare(configmap).blocking, "no validator"


def _annotation_reference(findings: tuple[Finding, ...]) -> str:
    """The audit annotation as first specified: entries added until the JSON list would be too long."""
    entries: list[str] = []
    for finding in findings:
        entries.append(f"[{finding.policy}] ({finding.severity}) {finding.message}")
        if len(json.dumps(entries)) > MAX_AUDIT_ANNOTATION_CHARS:
            entries[-1] = f"... {len(findings) - len(entries) + 1} more"
            break
    return json.dumps(entries)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=3000), max_size=40))
def test_the_findings_annotation_is_bounded_and_names_what_it_left_out(messages: list[str]) -> None:
    findings = tuple(
        Finding("prestop-wait", Severity.DENY if index % 2 else Severity.WARN, "Deployment", "edge", "a", text, None)
        for index, text in enumerate(messages)
    )
    assert _findings_annotation(findings) == _annotation_reference(findings)


def test_admission_routes_are_answered_in_front_of_fastapi(monkeypatch: pytest.MonkeyPatch) -> None:
    # the hot path skips FastAPI's whole stack (error middleware wrapping every send, telemetry, body limit,
    # router); every other route and the lifespan still go through it
    entered: list[str] = []
    real = FastAPI.__call__

    async def spy(self: FastAPI, scope: dict[str, Any], receive: Any, send: Any) -> None:
        entered.append(scope.get("path", scope["type"]))
        await real(self, scope, receive, send)

    monkeypatch.setattr(FastAPI, "__call__", spy)
    with TestClient(create_app(Settings()), base_url="https://testserver") as client:
        deployment = load_yaml(GOLDEN / "deployment-recreate" / "recreate" / "input.yaml")
        assert client.post("/mutate", json=review(deployment)).status_code == 200
        assert client.post("/validate", json=review(deployment)).status_code == 200
        assert client.post("/mutate", content=b"{").status_code == 400
        assert client.get("/healthz").status_code == 200
    assert entered == ["lifespan", "/healthz"]
