"""HTTPS only, verified by clients that trust just the generated CA; certificates rotated on disk."""

from __future__ import annotations

import json
import socket
import ssl
import time
from pathlib import Path

import httpx
import pytest

from haproxy_guard.certs.authority import generate
from tests.conftest import RunningServer, start_server, stop_server
from tests.helpers import GOLDEN, load_yaml, review
from tests.webhook.conftest import mounted_secret

BODY = json.dumps(review(load_yaml(GOLDEN / "prestop-wait" / "missing-exec" / "input.yaml"), uid="in-flight")).encode()


def _client(server: RunningServer, ca: Path, **context_options: object) -> httpx.Client:
    context = ssl.create_default_context(cafile=ca)
    for name, value in context_options.items():
        setattr(context, name, value)
    return httpx.Client(base_url=server.url, verify=context, timeout=5)


def test_a_client_verifying_the_generated_ca_is_served(server: RunningServer) -> None:
    with server.client() as client:
        assert client.get("/healthz").text == "ok"
        assert client.get("/readyz").status_code == 200


def test_a_client_trusting_another_ca_refuses_the_server(server: RunningServer, tmp_path: Path) -> None:
    other = generate(tmp_path, ["localhost"])
    with _client(server, other.ca_cert) as client, pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        client.get("/healthz")


def test_plain_http_is_not_served(server: RunningServer) -> None:
    with httpx.Client(timeout=5) as client, pytest.raises(httpx.HTTPError):
        client.get(server.url.replace("https://", "http://") + "/healthz")


def test_minimum_tls_version_is_enforced(cert_dir: Path, tmp_path: Path) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text("tlsMinVersion: '1.3'\n")
    strict = start_server(cert_dir, tmp_path / "log", ["--settings", str(settings)])
    try:
        with (
            _client(strict, strict.ca, maximum_version=ssl.TLSVersion.TLSv1_2) as client,
            pytest.raises(httpx.ConnectError),
        ):
            client.get("/healthz")
        with _client(strict, strict.ca, minimum_version=ssl.TLSVersion.TLSv1_3) as client:
            assert client.get("/healthz").status_code == 200
    finally:
        stop_server(strict)


def _served_by(server: RunningServer, ca: Path) -> bool:
    try:
        with _client(server, ca) as client:
            return client.get("/healthz").status_code == 200
    except httpx.ConnectError:
        return False


def test_rotated_certificate_is_served_without_restart_or_failing_a_request_in_flight(
    rotating_server: RunningServer, tmp_path: Path
) -> None:
    secret = rotating_server.cert_dir
    old_ca = tmp_path / "old-ca.crt"
    old_ca.write_bytes((secret / "ca.crt").read_bytes())
    port = int(rotating_server.url.rsplit(":", 1)[1])

    # A request in flight: handshake done with the old certificate, half of the body sent.
    context = ssl.create_default_context(cafile=old_ca)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(
            b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(BODY)}\r\n\r\n".encode()
            + BODY[: len(BODY) // 2]
        )
        mounted_secret(secret, "..v2")
        new_ca = secret / "ca.crt"
        deadline = time.monotonic() + 10
        while not _served_by(rotating_server, new_ca):
            assert time.monotonic() < deadline, "the new certificate was never served"
            time.sleep(0.1)
        tls.sendall(BODY[len(BODY) // 2 :])
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = tls.recv(65536)
            if not chunk:
                break
            reply += chunk
    head, _, payload = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert json.loads(payload)["response"]["uid"] == "in-flight"

    assert not _served_by(rotating_server, old_ca), "the old certificate is no longer served"
    assert rotating_server.process.poll() is None, "no restart"


def test_a_half_written_pair_keeps_the_previous_certificate(rotating_server: RunningServer, tmp_path: Path) -> None:
    secret = rotating_server.cert_dir
    ca = tmp_path / "ca.crt"
    ca.write_bytes((secret / "ca.crt").read_bytes())
    mismatched = tmp_path / "other"
    generate(mismatched, ["localhost"])
    target = (secret / "tls.key").resolve()
    (mismatched / "tls.key").replace(target)  # new key, old certificate: not a pair
    time.sleep(1)
    assert _served_by(rotating_server, ca)
    with _client(rotating_server, ca) as client:
        assert client.get("/readyz").status_code == 200
    assert b"keeping the current certificate" in rotating_server.log.read_bytes()
