"""/metrics and the structured logs of the real server process."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from datetime import datetime

import httpx
import pytest
from cryptography import x509
from prometheus_client import generate_latest

from haproxy_guard.webhook.observability import Metrics
from tests.conftest import RunningServer
from tests.helpers import GOLDEN, load_yaml, review

SECRET_LOOKING_CONFIG_TEXT = "marker-acl-9b1f"


def _metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0])) if "{" in line else {}
            if all(found.get(key) == value for key, value in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} {labels} not in metrics")


def test_metrics_and_logs(server: RunningServer) -> None:
    deployment = load_yaml(GOLDEN / "prestop-wait" / "missing-exec" / "input.yaml")
    configmap = load_yaml(GOLDEN / "haproxy-config-valid" / "typo-configmap" / "input.yaml")
    configmap["data"]["haproxy.cfg"] += f"# {SECRET_LOOKING_CONFIG_TEXT}\n"
    with server.client() as client:
        assert client.post("/mutate", json=review(deployment, uid="uid-observed-1")).status_code == 200
        assert (
            client.post("/validate", json=review(configmap, uid="uid-observed-2")).json()["response"]["allowed"]
            is False
        )
        assert client.post("/validate", json=review(configmap, uid="uid-observed-3")).status_code == 200
        assert client.post("/validate", content=b"nope").status_code == 400
        text = _scrape(server)
    assert (
        _metric(
            text,
            "haproxy_guard_admission_duration_seconds_count",
            webhook="mutate",
            operation="CREATE",
            kind="Deployment",
            verdict="patched",
        )
        >= 1
    )
    assert (
        _metric(
            text,
            "haproxy_guard_admission_duration_seconds_count",
            webhook="validate",
            kind="ConfigMap",
            verdict="denied",
        )
        >= 2
    )
    assert _metric(text, "haproxy_guard_validator_duration_seconds_count", version="2.8", result="invalid") >= 1
    assert _metric(text, "haproxy_guard_validator_cache_hits_total", version="2.8") >= 1
    policies = "haproxy_guard_admission_policies_total"
    assert _metric(text, policies, webhook="mutate", policy="prestop-wait", outcome="mutated") >= 1
    assert _metric(text, policies, webhook="validate", policy="haproxy-config-valid", outcome="denied") >= 2
    assert _metric(text, "haproxy_guard_bad_requests_total", webhook="validate", code="400") >= 1
    assert not re.search(r"^haproxy_guard_validator_timeouts_total\{", text, re.MULTILINE), "no timeout, no series"
    not_after = x509.load_pem_x509_certificate((server.cert_dir / "tls.crt").read_bytes()).not_valid_after_utc
    expiry = "haproxy_guard_certificate_expiry_timestamp_seconds"
    assert _metric(text, expiry, certificate="serving") == not_after.timestamp()
    ca_not_after = x509.load_pem_x509_certificate((server.cert_dir / "ca.crt").read_bytes()).not_valid_after_utc
    assert _metric(text, expiry, certificate="ca") == ca_not_after.timestamp() != not_after.timestamp()

    time.sleep(0.2)
    raw = server.log.read_text()
    entries = [json.loads(line) for line in raw.splitlines() if line.startswith("{")]
    admissions = {entry["uid"]: entry for entry in entries if entry["message"] == "admission"}
    mutated = admissions["uid-observed-1"]
    assert mutated["verdict"] == "patched" and mutated["kind"] == "Deployment" and mutated["object_name"] == "edge"
    assert "prestop-wait" in mutated["policies"]
    denied = admissions["uid-observed-2"]
    assert (denied["verdict"], denied["policies"][0]) == ("denied", "haproxy-config-valid")
    datetime.fromisoformat(denied["time"].replace("Z", "+00:00"))
    assert SECRET_LOOKING_CONFIG_TEXT not in raw and "unknowns" not in raw, "no configuration text in logs"


def _scrape(server: RunningServer) -> str:
    reply = httpx.get(server.metrics_url + "/metrics", timeout=10)
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    return reply.text


def test_metrics_have_their_own_port(server: RunningServer) -> None:
    """Plain HTTP on the metrics port, nothing else there; not on the webhook's HTTPS port."""
    with server.client() as client:
        assert client.get("/metrics").status_code == 404
    assert "haproxy_guard_sandbox_layer" in _scrape(server)
    assert httpx.get(server.metrics_url + "/mutate", timeout=10).status_code == 404
    assert httpx.post(server.metrics_url + "/metrics", timeout=10).status_code == 405
    host, port = server.metrics_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as stalled:
        stalled.sendall(b"GET /metr")
        stalled.settimeout(10)
        started = time.monotonic()
        assert stalled.recv(100) == b"", "a head that never ends is closed"
        assert time.monotonic() - started < 8


def test_sandbox_layers_are_reported(server: RunningServer) -> None:
    """Which kernel layers hold `haproxy -c` is visible in /metrics, /readyz and the start-up log."""
    with server.client() as client:
        metrics = _scrape(server)
        ready = client.get("/readyz")
    for layer in ("landlock", "seccomp", "network_namespace", "no_new_privs", "rlimits", "mount_namespace"):
        assert _metric(metrics, "haproxy_guard_sandbox_layer", layer=layer) == 1.0
    assert ready.status_code == 200
    assert "validator sandbox: landlock (ABI " in ready.text and "seccomp" in ready.text
    assert "checks run in this process's container: privilege separation is off" in ready.text  # no --checker-socket
    started = [json.loads(line) for line in server.log.read_text().splitlines() if '"validator sandbox' in line]
    assert started and started[0]["sandbox_layers"]["landlock"] is True


def test_metric_labels_come_from_closed_sets(server: RunningServer) -> None:
    """Two thousand made-up kinds and operations add no series: they are all `other`."""
    configmap = load_yaml(GOLDEN / "haproxy-config-valid" / "typo-configmap" / "input.yaml")
    with server.client() as client:
        for index in range(2000):
            body = review(configmap, uid=f"uid-kind-{index}")
            body["request"]["kind"]["kind"] = f"Kind{index}-" + "x" * 200
            body["request"]["operation"] = f"OP{index}"
            client.post("/mutate", json=body)
        text = _scrape(server)
    series = [line for line in text.splitlines() if line.startswith("haproxy_guard_admission_duration_seconds_count")]
    assert not any("Kind1" in line or "OP1" in line for line in series)
    assert len(series) < 20, series


def test_admission_metrics_count_every_admission_per_label_set() -> None:
    # the labelled children are cached per label set: each call must still land in its own series, exactly once
    metrics = Metrics()
    for _ in range(3):
        metrics.admission_observed("mutate", "CREATE", "Deployment", "patched", 0.002)
        metrics.policies_counted("mutate", [("prestop-wait", "mutated")])
    metrics.admission_observed("validate", "UPDATE", "ConfigMap", "denied", 0.2)
    metrics.policies_counted("validate", [("haproxy-config-valid", "denied")])
    sample = metrics.registry.get_sample_value
    duration = "haproxy_guard_admission_duration_seconds"
    patched = {"webhook": "mutate", "operation": "CREATE", "kind": "Deployment", "verdict": "patched"}
    denied = {"webhook": "validate", "operation": "UPDATE", "kind": "ConfigMap", "verdict": "denied"}
    assert sample(duration + "_count", patched) == 3
    assert sample(duration + "_sum", patched) == pytest.approx(0.006)
    assert sample(duration + "_bucket", {**patched, "le": "0.001"}) == 0
    assert sample(duration + "_bucket", {**patched, "le": "0.0025"}) == 3
    assert sample(duration + "_count", denied) == 1
    policies = "haproxy_guard_admission_policies_total"
    assert sample(policies, {"webhook": "mutate", "policy": "prestop-wait", "outcome": "mutated"}) == 3
    assert sample(policies, {"webhook": "validate", "policy": "haproxy-config-valid", "outcome": "denied"}) == 1


def test_policy_counts_of_one_admission_land_once_whenever_and_from_whichever_thread_they_are_read() -> None:
    # counts are added up beside prometheus_client and handed over when the registry is collected: every
    # collection (scrape or sample lookup) sees each admission exactly once, however often it is read
    metrics = Metrics()
    policies = "haproxy_guard_admission_policies_total"
    mutated = {"webhook": "mutate", "policy": "prestop-wait", "outcome": "mutated"}
    grace = {"webhook": "mutate", "policy": "termination-grace-period", "outcome": "mutated"}

    def admit(count: int) -> None:
        for _ in range(count):
            metrics.policies_counted("mutate", [("prestop-wait", "mutated"), ("termination-grace-period", "mutated")])

    assert metrics.registry.get_sample_value(policies, mutated) is None
    admit(2)
    assert metrics.registry.get_sample_value(policies, mutated) == 2
    assert metrics.registry.get_sample_value(policies, mutated) == 2  # read twice, counted once
    workers = [threading.Thread(target=admit, args=(500,)) for _ in range(4)]
    for worker in workers:
        worker.start()
    scraped = [generate_latest(metrics.registry) for _ in range(20)]  # collections while they count
    for worker in workers:
        worker.join()
    assert metrics.registry.get_sample_value(policies, mutated) == 2002
    assert metrics.registry.get_sample_value(policies, grace) == 2002
    assert (
        b'haproxy_guard_admission_policies_total{outcome="mutated",policy="prestop-wait",webhook="mutate"}'
        in (scraped[-1])
    )
