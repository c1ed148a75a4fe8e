"""Malformed input against the real server process: 400 or 413, quickly, and the server keeps serving."""

from __future__ import annotations

import copy
import json
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.webhook.app import create_app
from tests.conftest import RunningServer, start_server, stop_server
from tests.helpers import GOLDEN, load_yaml, review
from tests.policies.test_shapes import FUZZ_EXAMPLES, mutated_objects

GOOD = review(load_yaml(GOLDEN / "prestop-wait" / "missing-exec" / "input.yaml"))


HUGE_INTEGER_PROBE = load_yaml(GOLDEN / "readiness-probe" / "tcp-probe-with-endpoint" / "input.yaml")
HUGE_INTEGER_PROBE["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["periodSeconds"] = 2**70


def _without(key: str) -> bytes:
    body = json.loads(json.dumps(GOOD))
    del body["request"][key]
    return json.dumps(body).encode()


def _with(**request: object) -> bytes:
    body = json.loads(json.dumps(GOOD))
    body["request"].update(request)
    return json.dumps(body).encode()


BAD_BODIES = [
    pytest.param(b"this is not json", 400, "Invalid JSON", id="non-json"),
    pytest.param(b"", 400, "empty body", id="empty"),
    pytest.param(b"[1, 2, 3]", 400, "AdmissionReview", id="json-array"),
    pytest.param(
        json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}).encode(),
        400,
        "request",
        id="no-request",
    ),
    pytest.param(
        json.dumps({**GOOD, "apiVersion": "admission.k8s.io/v1beta1"}).encode(), 400, "apiVersion", id="v1beta1"
    ),
    pytest.param(json.dumps({**GOOD, "kind": "TokenReview"}).encode(), 400, "kind", id="wrong-kind"),
    pytest.param(_without("object"), 400, "request.object is required for CREATE", id="missing-object"),
    pytest.param(_without("uid"), 400, "uid", id="missing-uid"),
    pytest.param(_with(operation="PATCH"), 400, "operation", id="unknown-operation"),
    pytest.param(_with(object="a string"), 400, "object", id="object-not-a-mapping"),
    pytest.param(b'{"request": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400, "recursion limit", id="deeply-nested"),
    pytest.param(_with(object={"a": [[[[[[[[[[]]]]]]]]]]} | {"b": "x" * 100}), 200, "", id="odd-but-valid-object"),
    pytest.param(b"\xff\xfe\x00garbage", 400, "Invalid JSON", id="binary"),
    pytest.param(
        _with(object=HUGE_INTEGER_PROBE),
        400,
        "request.object.spec.template.spec.containers[0].readinessProbe.periodSeconds: expected integer",
        id="integer-beyond-64-bits",
    ),
]


@pytest.mark.parametrize(("body", "status", "reason"), BAD_BODIES)
@pytest.mark.parametrize("path", ["/mutate", "/validate"])
def test_bad_bodies_are_400_and_the_server_keeps_serving(
    server: RunningServer, path: str, body: bytes, status: int, reason: str
) -> None:
    with server.client() as client:
        started = time.monotonic()
        reply = client.post(path, content=body, headers={"Content-Type": "application/json"})
        elapsed = time.monotonic() - started
        assert reply.status_code == status, reply.text
        if status == 400:
            assert reason in reply.json()["error"]
        assert elapsed < 2, f"answered in {elapsed:.2f}s"
        assert client.post(path, json=GOOD).status_code == 200


@pytest.mark.parametrize("path", ["/mutate", "/validate"])
def test_a_10_mib_body_is_413_without_reading_it(server: RunningServer, path: str) -> None:
    body = b'{"apiVersion": "admission.k8s.io/v1", "padding": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    with server.client() as client:
        started = time.monotonic()
        reply = client.post(path, content=body)
        assert reply.status_code == 413
        assert "exceeds" in reply.json()["error"]
        assert time.monotonic() - started < 5
    with server.client() as client:
        assert client.post(path, json=GOOD).status_code == 200


def test_a_chunked_body_over_the_limit_is_413(server: RunningServer) -> None:
    def chunks() -> object:
        for _ in range(12):
            yield b"x" * (1024 * 1024)

    with server.client() as client:
        reply = client.post("/mutate", content=chunks())  # type: ignore[arg-type]
        assert reply.status_code == 413


@pytest.mark.parametrize("length", ["-5", "abc", "99999999999999999999999"])
def test_invalid_content_length_is_400(server: RunningServer, length: str) -> None:
    """Sent over a raw TLS socket, because HTTP clients refuse to send such a header."""
    context = ssl.create_default_context(cafile=server.ca)
    port = int(server.url.rsplit(":", 1)[1])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(f"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Length: {length}\r\n\r\n{{}}".encode())
        status_line = tls.recv(4096).split(b"\r\n", 1)[0]
    assert status_line.split()[1] in {b"400", b"413"}, status_line


def test_unknown_paths_and_methods_are_not_500(server: RunningServer) -> None:
    with server.client() as client:
        assert client.get("/mutate").status_code == 405
        assert client.post("/nope", json=GOOD).status_code == 404


def test_a_truncated_body_is_answered_not_hung(cert_dir: Path, tmp_path: Path) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text("bodyTimeoutSeconds: 1\n")
    impatient = start_server(cert_dir, tmp_path / "log", ["--settings", str(settings)])
    try:
        context = ssl.create_default_context(cafile=impatient.ca)
        port = int(impatient.url.rsplit(":", 1)[1])
        started = time.monotonic()
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            tls.sendall(b'POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n{"apiVersion"')
            reply = b""
            while chunk := tls.recv(4096):  # the server closes the connection after answering
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 400"), reply
        assert b"not received within 1s" in reply
        assert time.monotonic() - started < 5
        with impatient.client() as client:
            assert client.post("/mutate", json=GOOD).status_code == 200
    finally:
        stop_server(impatient)


def _wrong_types() -> list[tuple[str, dict[str, Any]]]:
    deployment = load_yaml(GOLDEN / "prestop-wait" / "missing-exec" / "input.yaml")
    name_list = copy.deepcopy(deployment)
    name_list["spec"]["template"]["spec"]["containers"][0]["name"] = []
    daemonset = copy.deepcopy(deployment)
    daemonset["kind"], daemonset["spec"]["updateStrategy"] = "DaemonSet", 0
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"haproxy.cfg": "x"}}
    return [("container-name-list", name_list), ("daemonset-strategy-zero", daemonset), ("configmap", configmap)]


@pytest.mark.parametrize("path", ["/mutate", "/validate"])
def test_wrong_types_inside_the_object_are_never_a_500(server: RunningServer, path: str) -> None:
    """Wrong types deep inside the object: a 400 (or a verdict), never a 500, and the connection still
    answers the next request."""
    with server.client() as client:
        for name, obj in _wrong_types():
            body = review(obj, uid=f"uid-{name}")
            if name == "configmap":
                body["request"]["object"]["metadata"] = 5
            response = client.post(path, json=body)
            assert response.status_code in (200, 400), (name, response.status_code, response.text)
            assert client.get("/healthz").status_code == 200


@pytest.fixture(scope="module")
def in_process() -> Iterator[TestClient]:
    with TestClient(create_app(Settings()), base_url="https://testserver") as client:
        yield client


@settings(max_examples=FUZZ_EXAMPLES // 3, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutated_objects(), st.sampled_from(["/mutate", "/validate"]), st.sampled_from(["CREATE", "UPDATE"]))
def test_generated_reviews_get_200_or_a_400_naming_the_path(
    in_process: TestClient, obj: dict[str, Any], path: str, operation: str
) -> None:
    """Real objects with any value at any path, through the whole webhook: a verdict, or a 400 naming the
    field; never a 5xx, and never the last-resort "wrong type" answer (the engine met a type it did not expect)."""
    kind = obj.get("kind") if isinstance(obj.get("kind"), str) else "Deployment"
    group, _, version = str(obj.get("apiVersion", "v1")).rpartition("/")
    request = {
        "uid": "fuzz",
        "kind": {"group": group, "version": version or "v1", "kind": kind},
        "namespace": "shop",
        "operation": operation,
        "object": obj,
        "oldObject": obj if operation == "UPDATE" else None,
    }
    body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})
    reply = in_process.post(path, content=body, headers={"Content-Type": "application/json"})
    assert reply.status_code in {200, 400}, reply.text
    if reply.status_code == 400:
        assert "wrong type (" not in reply.json()["error"], reply.text
