"""`haproxy-guard drill` end to end, on real HAProxy processes: the example Deployment loses requests on a
pod stop as written and none once mutated; a grace period shorter than a long request ends in SIGKILL;
bad input is one line and exit 2 before anything starts; Ctrl-C leaves no process behind."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import ROOT

pytestmark = pytest.mark.slow
COMMAND = [sys.executable, "-m", "haproxy_guard.cli.main", "drill"]
CONFIG = """\
global
    maxconn 1000
defaults
    mode http
    timeout client 30s
    timeout server 30s
    timeout connect 5s
frontend fe
    bind :8080
    default_backend app
backend app
    server app1 app.default.svc:8080
"""


def _drill(*args: str, timeout: float = 110) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False)


def _manifests(
    folder: Path, config: str = CONFIG, grace: int | None = None, with_configmap: bool = True, **pod: Any
) -> Path:
    container = {"name": "haproxy", "image": "haproxy:2.8", "ports": [{"name": "http", "containerPort": 8080}],
                 "volumeMounts": [{"name": "config", "mountPath": "/usr/local/etc/haproxy"}]}  # fmt: skip
    spec: dict[str, Any] = {
        "containers": [container],
        "volumes": [{"name": "config", "configMap": {"name": "edge"}}],
        **pod,
    }
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "edge", "namespace": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "edge"}},
                 "template": {"metadata": {"labels": {"app": "edge"}}, "spec": spec}},
    }  # fmt: skip
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "edge", "namespace": "web"},
                 "data": {"haproxy.cfg": config}}  # fmt: skip
    path = folder / "edge.yaml"
    path.write_text(yaml.safe_dump_all([deployment, configmap] if with_configmap else [deployment]))
    return path


def _failures(run: dict[str, Any]) -> int:
    return sum(run["failures"].values())


def test_the_example_loses_requests_on_a_pod_stop_as_written_and_none_mutated(tmp_path: Path) -> None:
    plot = tmp_path / "timeline.png"
    result = _drill("examples/", "--scenario", "stop", "--format", "json", "--plot", str(plot))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    runs = {run["spec"]: run for run in report["runs"]}
    assert set(runs) == {"as-written", "mutated"}
    for run in runs.values():
        assert run["scenario"] == "stop" and run["haproxy_version"] == "2.8"
        assert set(run["failures"]) == {"refused", "reset", "timeout", "status_5xx"}
        assert run["requests"] > 500 and isinstance(run["p99_ms"], float)
    assert _failures(runs["as-written"]) > 0, "no preStop wait: the Service still routes to a closed listener"
    assert _failures(runs["mutated"]) == 0
    assert report["summary"] == {"as_written_failures": _failures(runs["as-written"]), "mutated_failures": 0}
    events = [event["event"] for event in runs["mutated"]["events"]]
    assert events.index("deleted") < events.index("endpoint removed") < events.index("preStop ended")
    assert events.index("preStop ended") < events.index("stop signal (SIGUSR1)") < events.index("exited")
    assert "drill: " in result.stderr, "progress goes to stderr"
    header = plot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    assert width > 1000 and height > 200, "one row per scenario, a panel per spec"


def test_a_grace_period_shorter_than_a_long_request_ends_in_sigkill(tmp_path: Path) -> None:
    """As written: no preStop, 3 s of grace, 8 s requests in flight: SIGKILL cuts them. Mutated: the wait and
    the grace period fit, and `hard-stop-after` is advised (and applied to the copy)."""
    manifest = _manifests(tmp_path, grace=3)
    result = _drill(str(manifest), "--scenario", "long-lived", "--stream-seconds", "8", "--format", "json")
    report = json.loads(result.stdout)
    runs = {run["spec"]: run for run in report["runs"]}
    assert "SIGKILL" in [event["event"] for event in runs["as-written"]["events"]]
    assert runs["as-written"]["failures"]["reset"] > 0, "streams cut by SIGKILL"
    assert "SIGKILL" not in [event["event"] for event in runs["mutated"]["events"]]
    assert _failures(runs["mutated"]) == 0, result.stdout
    assert result.returncode == 0
    advice = report["config_advice_applied"]["Deployment web/edge"]
    assert any("hard-stop-after" in line for line in advice) and any(
        "idle-close-on-response" in line for line in advice
    )


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("configmap-only", "no HAProxy workload"),
        ("missing-configmap", "mounts ConfigMap edge, which is not in the input"),
        ("invalid", "does not validate"),
        ("no-listener", "no plain-text listener"),
        ("routes-nowhere", "before any pod stops"),
        ("port-range", "port range"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, case: str, expected: str) -> None:
    if case == "configmap-only":
        path = tmp_path / "cm.yaml"
        path.write_text(
            yaml.safe_dump(
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"haproxy.cfg": CONFIG}}
            )
        )
    elif case == "missing-configmap":
        path = _manifests(tmp_path, with_configmap=False)
    elif case == "invalid":
        path = _manifests(tmp_path, CONFIG.replace("maxconn 1000", "maxconn lots"))
    elif case == "no-listener":
        path = _manifests(tmp_path, CONFIG.replace("bind :8080", "bind :8443 ssl crt /etc/tls/site.pem"))
    elif case == "routes-nowhere":
        path = _manifests(
            tmp_path, CONFIG.replace("default_backend app", "use_backend app if { hdr(host) shop.example }")
        )
    else:
        path = _manifests(tmp_path, CONFIG.replace("bind :8080", "bind :8080-8090"))
    result = _drill(str(path), "--scenario", "stop")
    assert result.returncode == 2, result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("haproxy-guard: ") and expected in message, result.stderr
    assert "Traceback" not in result.stderr


def test_host_routing_is_measured_with_host(tmp_path: Path) -> None:
    path = _manifests(tmp_path, CONFIG.replace("default_backend app", "use_backend app if { hdr(host) shop.example }"))
    result = _drill(str(path), "--scenario", "stop", "--host", "shop.example", "--format", "json")
    report = json.loads(result.stdout)
    assert [run["spec"] for run in report["runs"]] == ["as-written", "mutated"], result.stderr


def _drill_processes(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupt_leaves_no_process_and_no_folder(tmp_path: Path, stop: signal.Signals) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    process = subprocess.Popen(
        [*COMMAND, "examples/", "--scenario", "rollout"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    assert process.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _drill_processes(str(tmp_path / "haproxy-guard-drill-")):
        time.sleep(0.1)
    time.sleep(2)
    assert _drill_processes(str(tmp_path / "haproxy-guard-drill-")), "replicas are running"
    os.killpg(process.pid, stop)
    try:
        process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, errors = process.communicate()
        pytest.fail(f"the drill did not stop within 30 s of {stop.name}: {errors[-3000:]}")
    time.sleep(0.5)
    assert _drill_processes(str(tmp_path / "haproxy-guard-drill-")) == []
    assert list(tmp_path.iterdir()) == []


def test_sigkill_of_the_drill_takes_its_replicas_along(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    process = subprocess.Popen([*COMMAND, "examples/", "--scenario", "rollout"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(_drill_processes(str(tmp_path / "haproxy-guard-drill-"))) < 3:
        time.sleep(0.1)
    process.kill()
    process.wait(10)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _drill_processes(str(tmp_path / "haproxy-guard-drill-")):
        time.sleep(0.1)
    assert _drill_processes(str(tmp_path / "haproxy-guard-drill-")) == []
