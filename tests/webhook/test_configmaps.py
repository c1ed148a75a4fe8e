"""ConfigMap validation and config-aware workload checks through the webhook (real validator binaries)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from haproxy_guard.policies.context import Context
from haproxy_guard.policies.haproxy.validator import Validator
from haproxy_guard.policies.model.settings import Mode, Settings
from haproxy_guard.webhook.admission import Admission
from haproxy_guard.webhook.app import create_app
from tests.conftest import RunningServer, start_server, stop_server
from tests.helpers import GOLDEN, apply_patch, decoded_patch, golden_config_source, load_yaml, review

VALID = GOLDEN / "haproxy-config-valid" / "valid-configmap" / "input.yaml"
INVALID = GOLDEN / "haproxy-config-valid" / "typo-configmap" / "input.yaml"
WORKLOAD_CASE = GOLDEN / "config-hash" / "missing"


def _client(admission: Admission) -> Iterator[TestClient]:
    with TestClient(create_app(admission), base_url="https://testserver") as client:
        yield client


@pytest.fixture
def client(validator: Validator) -> Iterator[TestClient]:
    yield from _client(Admission(Settings(), Context(validator, golden_config_source(WORKLOAD_CASE))))


def _post(client: TestClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = client.post(path, json=body)
    assert reply.status_code == 200, reply.text
    response: dict[str, Any] = reply.json()["response"]
    return response


def test_an_invalid_configmap_is_denied_with_file_line_and_reason(client: TestClient) -> None:
    response = _post(client, "/validate", review(load_yaml(INVALID)))
    assert response["allowed"] is False
    message = response["status"]["message"]
    assert (
        "[haproxy-config-valid] haproxy.cfg:19: error detected while parsing an 'http-request deny' condition"
        in message
    )
    assert "no such ACL : 'unknowns'" in message


def test_a_valid_configmap_is_allowed(client: TestClient) -> None:
    response = _post(client, "/validate", review(load_yaml(VALID)))
    assert response == {"uid": response["uid"], "allowed": True}


def test_updating_a_valid_configmap_to_an_invalid_one_is_denied(client: TestClient) -> None:
    response = _post(client, "/validate", review(load_yaml(INVALID), "UPDATE", old=load_yaml(VALID)))
    assert response["allowed"] is False


def test_audit_mode_stores_the_invalid_configmap_with_warnings(validator: Validator) -> None:
    for client in _client(Admission(Settings(mode=Mode.AUDIT), Context(validator))):
        response = _post(client, "/validate", review(load_yaml(INVALID)))
        assert response["allowed"] is True
        assert any(w.startswith("[haproxy-config-valid] haproxy.cfg:19:") for w in response["warnings"])


def test_configmaps_are_never_mutated(client: TestClient) -> None:
    response = _post(client, "/mutate", review(load_yaml(INVALID)))
    assert response == {"uid": response["uid"], "allowed": True}


def test_a_workload_gets_the_config_hash_and_readiness_from_its_configmap(client: TestClient) -> None:
    workload = load_yaml(WORKLOAD_CASE / "input.yaml")
    patched = apply_patch(workload, decoded_patch(_post(client, "/mutate", review(workload))))
    template = patched["spec"]["template"]
    assert template["metadata"]["annotations"]["haproxy-guard.io/config-hash"].startswith("sha256:")
    probe = template["spec"]["containers"][0]["readinessProbe"]
    assert probe["httpGet"] == {"path": "/ready", "port": 8405, "scheme": "HTTP"}
    assert _post(client, "/validate", review(patched))["allowed"] is True


def test_without_a_config_source_the_webhook_says_so(validator: Validator) -> None:
    workload = load_yaml(WORKLOAD_CASE / "input.yaml")
    for client in _client(Admission(Settings(), Context(validator))):
        response = _post(client, "/validate", review(workload))
        assert any(w.startswith("[haproxy-config-source] ConfigMap edge-haproxy") for w in response["warnings"])


def test_the_real_server_denies_an_invalid_configmap(server: RunningServer) -> None:
    with server.client() as client:
        reply = client.post("/validate", json=review(load_yaml(INVALID)))
        response = reply.json()["response"]
        assert response["allowed"] is False
        assert "haproxy.cfg:19:" in response["status"]["message"]
        assert client.get("/readyz").status_code == 200


def test_readyz_fails_when_a_validator_binary_does_not_run(cert_dir: Path, tmp_path: Path) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text('validators: {"2.8": /bin/true}\n')
    broken = start_server(cert_dir, tmp_path / "log", ["--settings", str(settings)])
    try:
        with broken.client() as client:
            reply = client.get("/readyz")
            assert reply.status_code == 503
            assert "validator binary /bin/true for HAProxy 2.8 does not run" in reply.text
            assert client.get("/healthz").status_code == 200
    finally:
        stop_server(broken)


def _labelled(data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "split", "namespace": "edge", "labels": {"haproxy-guard.io/config": "true"}},
        "data": data,
    }


def test_a_labelled_configmap_is_checked_by_its_cfg_keys(client: TestClient) -> None:
    broken = load_yaml(INVALID)["data"]["haproxy.cfg"]
    response = _post(client, "/validate", review(_labelled({"edge.cfg": broken, "notes.txt": "x"})))
    assert response["allowed"] is False
    assert "[haproxy-config-valid] edge.cfg:19: error detected" in response["status"]["message"]


def test_a_labelled_configmap_without_a_cfg_key_is_denied_with_a_reason(client: TestClient) -> None:
    response = _post(client, "/validate", review(_labelled({"notes.txt": "x"})))
    assert response["allowed"] is False
    assert "has no *.cfg key" in response["status"]["message"]
    assert all(not w.startswith("[haproxy-maxconn]") for w in response.get("warnings", [])), (
        "no findings about an absent configuration"
    )


def test_the_skip_annotation_opts_a_configmap_out(client: TestClient) -> None:
    skipped = load_yaml(INVALID)
    skipped["metadata"]["annotations"] = {"haproxy-guard.io/skip": "true"}
    response = _post(client, "/validate", review(skipped))
    assert response["allowed"] is True
    assert [w.split("]")[0] for w in response["warnings"]] == ["[skip-annotation"]


def test_only_an_unanswered_haproxy_configmap_goes_to_the_thread_pool(validator: Validator) -> None:
    """`prepare` decides whether an admission runs in a thread: an HAProxy ConfigMap whose check is not
    cached yet does; once answered, the same ConfigMap is decided on the event loop; other ConfigMaps never
    run anything."""
    from haproxy_guard.webhook.review import parse_review

    admission = Admission(Settings(), Context(validator=validator))
    text = f"# {id(object())}\ndefaults\n  mode http\n  timeout client 5s\nfrontend fe\n  bind :8080\n"
    haproxy = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "edge"},
               "data": {"haproxy.cfg": text}}  # fmt: skip
    other = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "o", "namespace": "edge"},
             "data": {"app.properties": "a=1"}}  # fmt: skip
    first = parse_review(json.dumps(review(haproxy, uid="a")).encode())
    assert admission.prepare(first).blocking
    answer = admission.validate(first)
    again = parse_review(json.dumps(review(haproxy, uid="a")).encode())
    assert not admission.prepare(again).blocking
    assert admission.validate(again) == answer
    assert not admission.prepare(parse_review(json.dumps(review(other)).encode())).blocking


def test_a_configmap_is_inspected_and_digested_once_per_admission(validator: Validator) -> None:
    """`prepare` makes the ConfigMap view and its bundle's digest to know whether the check may block;
    `validate` reuses them (once per admission, cached answer or not) and answers as without them."""
    import hashlib
    from unittest import mock

    from haproxy_guard.policies.haproxy import bundle
    from haproxy_guard.policies.model import configmap as configmap_module
    from haproxy_guard.webhook.review import parse_review

    admission = Admission(Settings(), Context(validator=validator))
    text = f"# {id(object())}\ndefaults\n  mode http\n  timeout client 5s\nfrontend fe\n  bind :8080\n"
    haproxy = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "edge"},
               "data": {"haproxy.cfg": text, "extra.map": "a b\n"}}  # fmt: skip
    for attempt in ("cold", "cached"):
        request = parse_review(json.dumps(review(haproxy, uid=attempt)).encode())
        inspect = mock.patch.object(configmap_module, "inspect_configmap", wraps=configmap_module.inspect_configmap)
        digest = mock.patch.object(bundle, "hashlib", wraps=hashlib)  # only the bundle digest hashes there
        with inspect as inspected, digest as digested, mock.patch("haproxy_guard.webhook.admission.inspect_configmap", inspected), mock.patch("haproxy_guard.policies.engine.inspect_configmap", inspected):  # fmt: skip
            prepared = admission.prepare(request)
            assert prepared.blocking is (attempt == "cold") and prepared.configmap is not None
            answer = admission.validate(request, prepared)
        assert inspected.call_count == 1, attempt
        assert digested.sha256.call_count == 1, attempt
        assert answer == admission.validate(request), "the same answer as without the prepared view"
