"""Benchmark: /mutate throughput and latency beside a minimal FastAPI webhook, same TLS, same client.

Starts both servers as real processes on loopback, drives each with `wrk` (16 connections, a Lua script
POSTing a typical HAProxy Deployment review) and prints requests/s, p50 and p99. Run by hand:
`make bench` or `.venv/bin/python bench/bench_mutate.py [--duration 15] [--connections 16]`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from haproxy_guard.certs.authority import generate  # noqa: E402

SAMPLE = ROOT / "examples" / "haproxy-deployment.yaml"
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local file = io.open("{body}", "rb")
wrk.body = file:read("*a")
file:close()
"""


@dataclass
class Result:
    name: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: str


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait(port: int, ca: Path) -> None:
    context = ssl.create_default_context(cafile=ca)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as raw:
                context.wrap_socket(raw, server_hostname="localhost").close()
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listening on {port}")


def _milliseconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[match.group(2)]


def _wrk(name: str, port: int, script: Path, duration: int, connections: int) -> Result:
    url = f"https://127.0.0.1:{port}/mutate"
    subprocess.run(["wrk", "-t1", "-c4", "-d2s", "-s", str(script), url], capture_output=True, check=True)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if os.environ.get("BENCH_VERBOSE"):
        print(out, file=sys.stderr)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _milliseconds(re.search(r"50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _milliseconds(re.search(r"99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = "; ".join(line.strip() for line in out.splitlines() if "Non-2xx" in line or "Socket errors" in line)
    return Result(name, rps, p50, p99, errors or "none")


def _check_reply(port: int, ca: Path, body: bytes) -> None:
    """The benchmarked reply is the real one: a patch for the sample."""
    context = ssl.create_default_context(cafile=ca)
    request = urllib.request.Request(f"https://localhost:{port}/mutate", data=body, method="POST")
    with urllib.request.urlopen(request, context=context) as reply:
        response = json.loads(reply.read())["response"]
    assert response["allowed"] and response["patchType"] == "JSONPatch", response


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: run scripts/install-system-deps.sh")
    work = Path(tempfile.mkdtemp(prefix="hg-bench-"))
    generate(work / "certs", ["localhost", "127.0.0.1"])
    obj = yaml.safe_load(SAMPLE.read_text())
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "3f1d2c4e-bench",
            "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "namespace": "edge",
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:argocd:argocd-application-controller"},
            "object": obj,
            "oldObject": None,
            "dryRun": False,
        },
    }
    body = json.dumps(review).encode()
    (work / "body.json").write_bytes(body)
    script = work / "post.lua"
    script.write_text(LUA.format(body=work / "body.json"))
    env = {**os.environ, "KUBECONFIG": "/nonexistent"}
    servers = {
        "haproxy-guard /mutate": [
            sys.executable,
            "-m",
            "haproxy_guard.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--cert-dir",
            str(work / "certs"),
        ],
        "minimal FastAPI webhook": [
            sys.executable,
            str(ROOT / "bench" / "minimal_webhook.py"),
            "--cert-dir",
            str(work / "certs"),
        ],
    }
    results = []
    for name, command in servers.items():
        port = _free_port()
        process = subprocess.Popen(
            [*command, "--port", str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            _wait(port, work / "certs" / "ca.crt")
            if name.startswith("haproxy-guard"):
                _check_reply(port, work / "certs" / "ca.crt", body)
            results.append(_wrk(name, port, script, args.duration, args.connections))
        finally:
            process.terminate()
            process.wait(10)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"wrk -t1 -c{args.connections} -d{args.duration}s, body {len(body)} bytes"
    )
    print(f"{'server':<26}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}  errors")
    for result in results:
        print(
            f"{result.name:<26}{result.requests_per_second:>10.0f}{result.p50_ms:>10.2f}{result.p99_ms:>10.2f}  "
            f"{result.errors}"
        )
    ratio = results[0].requests_per_second / results[1].requests_per_second
    print(
        f"throughput ratio haproxy-guard / minimal: {ratio:.2f} (target >= 0.70); "
        f"p99 {results[0].p99_ms:.2f} ms (target < 10 ms)"
    )
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
