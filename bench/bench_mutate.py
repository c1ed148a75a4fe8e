"""Benchmark: /mutate and /validate throughput and latency beside a minimal FastAPI webhook, same TLS, same client.

Starts both servers as real processes on loopback, drives each with `wrk` (16 connections, a Lua script that
makes every request's body different: name, uid, labels and image tag of a typical HAProxy Deployment, or the
name and a comment of its ConfigMap) and prints requests/s, p50 and p99 per case with the ratios. Cases:
/mutate and /validate of the Deployment (whose answers the webhook remembers: only the name, labels and image
tag differ); of what `kubectl rollout restart` sends (only the pod template's `restartedAt` differs, which no
policy reads); of a mix of 80 % objects of other applications and 20 % HAProxy Deployments of ten shapes; of
the Deployment with a new annotation key in each body (nothing is remembered: the engine's whole work on
every request); /validate of the ConfigMap cold (each body a new configuration, so each request runs
`haproxy -c`) and cached (the same body again). Both servers run all along and take turns
(`--rounds`, each round in the other order); the figures are medians of the rounds, and each ratio is the
median of the rounds' ratios, since this machine's speed drifts within minutes. Run by hand: `make bench` or
`.venv/bin/python bench/bench_mutate.py [--duration 6] [--rounds 5] [--connections 16] [--case NAME]`.
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
from statistics import median
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import corpus  # noqa: E402
from haproxy_guard.certs.authority import generate  # noqa: E402

OURS, BASELINE = "haproxy-guard", "minimal FastAPI"
SAMPLE = ROOT / "examples" / "haproxy-deployment.yaml"
CONFIGMAP = ROOT / "examples" / "haproxy-configmap.yaml"
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local templates = {}
for _, path in ipairs({@FILES@}) do
  local file = io.open(path, "rb")
  templates[#templates + 1] = file:read("*a")
  file:close()
end
local counter = 0
math.randomseed(os.time())
local run = tostring(math.random(1, 1000000000))
-- every request differs: name, uid, labels and image tag carry a counter (no cache of whole answers counts);
-- a case with several bodies sends them in turn
request = function()
  counter = counter + 1
  local template = templates[(counter % #templates) + 1]
  local body = template:gsub("@ID@", run .. "-" .. counter):gsub("@N@", tostring(counter))
  return wrk.format(nil, nil, nil, body)
end
"""
UNIQUE = "@ID@"
"""Replaced in each request by a unique string (names, labels, uid); `@N@` by a number (the image tag)."""


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


def _wrk(name: str, url: str, script: Path, duration: int, connections: int, *, warm: bool) -> Result:
    if warm:
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
    p50 = _milliseconds(re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    p99 = _milliseconds(re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    errors = "; ".join(line.strip() for line in out.splitlines() if "Non-2xx" in line or "Socket errors" in line)
    return Result(name, rps, p50, p99, errors or "none")


def _check_reply(port: int, ca: Path, template: bytes) -> None:
    """The benchmarked reply is the real one: a patch for the sample."""
    body = template.replace(UNIQUE.encode(), b"check").replace(b"@N@", b"1")
    context = ssl.create_default_context(cafile=ca)
    request = urllib.request.Request(f"https://localhost:{port}/mutate", data=body, method="POST")
    with urllib.request.urlopen(request, context=context) as reply:
        response = json.loads(reply.read())["response"]
    assert response["allowed"] and response["patchType"] == "JSONPatch", response


def _review(obj: dict[str, Any], resource: str, operation: str = "CREATE") -> bytes:
    group, _, version = obj["apiVersion"].rpartition("/")
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": f"3f1d2c4e-{UNIQUE}",
            "kind": {"group": group, "version": version, "kind": obj["kind"]},
            "resource": {"group": group, "version": version, "resource": resource},
            "namespace": "edge",
            "operation": operation,
            "userInfo": {"username": "system:serviceaccount:argocd:argocd-application-controller"},
            "object": obj,
            "oldObject": None,
            "dryRun": False,
        },
    }
    return json.dumps(review).encode()


def _mix() -> list[bytes]:
    """What a webhook without an object selector sees: of every 50 bodies, 40 of other applications (20
    Deployments, 10 Pods, 10 ConfigMaps) and 10 HAProxy Deployments of 10 shapes (`bench/corpus.py`: hardened
    or as teams write them, four branches, `Recreate`, a short grace period), each with a new name per request."""
    bodies: list[bytes] = []
    for index in range(50):
        if index % 5 == 0:
            obj = corpus.release(index // 5, configs=10)[1]
            resource = "deployments"
        elif index % 5 in (1, 2):
            obj = corpus.other(index)
            resource = "deployments"
        elif index % 5 == 3:
            deployment = corpus.other(index)
            obj = {"apiVersion": "v1", "kind": "Pod", "metadata": dict(deployment["metadata"]),
                   "spec": deployment["spec"]["template"]["spec"]}  # fmt: skip
            resource = "pods"
        else:
            obj = {"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": f"app-{index}", "namespace": f"apps-{index % 10}"},
                   "data": {"application.properties": f"server.port=8080\nfeature.{index}=on\n"}}  # fmt: skip
            resource = "configmaps"
        obj["metadata"]["name"] = f"{obj['metadata']['name']}-{UNIQUE}"
        obj["metadata"]["labels"] = {**obj["metadata"].get("labels", {}), "release": UNIQUE}
        bodies.append(_review(obj, resource))
    return bodies


def cases() -> dict[str, tuple[str, list[bytes]]]:
    """name -> (path, body templates sent in turn): each body differs per request where it has `@ID@`."""
    deployment = yaml.safe_load(SAMPLE.read_text())
    restarted = yaml.safe_load(SAMPLE.read_text())
    deployment["metadata"]["name"] = f"edge-haproxy-{UNIQUE}"
    deployment["metadata"]["labels"] = {"release": UNIQUE}
    deployment["spec"]["template"]["metadata"]["labels"]["release"] = UNIQUE
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = "haproxytech/haproxy-alpine:2.8.@N@"
    workload = _review(deployment, "deployments")
    # `kubectl rollout restart`: the same Deployment, only the pod template's restartedAt differs (and the uid)
    restarted["spec"]["template"]["metadata"].setdefault("annotations", {})["kubectl.kubernetes.io/restartedAt"] = (
        f"2026-12-07T10:00:00.{UNIQUE}Z"
    )
    restart = _review(restarted, "deployments", "UPDATE")
    # a new annotation key in each body: the policies read which annotations there are, so no two bodies
    # share a fingerprint and no answer is remembered (the engine's whole work on every request)
    deployment["metadata"].setdefault("annotations", {})[f"example.com/build-{UNIQUE}"] = "1"
    unrecognised = _review(deployment, "deployments")
    configmap = next(doc for doc in yaml.safe_load_all(CONFIGMAP.read_text()) if doc)
    configmap["metadata"]["name"] = f"edge-haproxy-{UNIQUE}"
    configmap["data"]["haproxy.cfg"] += f"# release {UNIQUE}\n"
    cold = _review(configmap, "configmaps")
    cached = cold.replace(UNIQUE.encode(), b"same")
    mix = _mix()
    return {
        "/mutate workload": ("/mutate", [workload]),
        "/validate workload": ("/validate", [workload]),
        "/mutate rollout restart": ("/mutate", [restart]),
        "/validate rollout restart": ("/validate", [restart]),
        "/mutate mix 80/20": ("/mutate", mix),
        "/validate mix 80/20": ("/validate", mix),
        "/mutate workload, all differ": ("/mutate", [unrecognised]),
        "/validate workload, all differ": ("/validate", [unrecognised]),
        "/validate ConfigMap cold": ("/validate", [cold]),
        "/validate ConfigMap cached": ("/validate", [cached]),
    }


def _start(command: list[str], work: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    process = subprocess.Popen(
        [*command, "--port", str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _wait(port, work / "certs" / "ca.crt")
    return process, port


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=6, help="seconds of each wrk run")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each server per case, interleaved")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--case", action="append", help="only these cases (repeatable; default: all)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: run scripts/install-system-deps.sh")
    work = Path(tempfile.mkdtemp(prefix="hg-bench-"))
    generate(work / "certs", ["localhost", "127.0.0.1"])
    chosen = {name: case for name, case in cases().items() if not args.case or name in args.case}
    scripts: dict[str, Path] = {}
    for index, (name, (_, bodies)) in enumerate(chosen.items()):
        files = []
        for number, body in enumerate(bodies):
            files.append(work / f"body-{index}-{number}.json")
            files[-1].write_bytes(body)
        scripts[name] = work / f"post-{index}.lua"
        scripts[name].write_text(LUA.replace("@FILES@", ", ".join(f'"{file}"' for file in files)))
    env = {**os.environ, "KUBECONFIG": "/nonexistent"}
    commands = {
        OURS: [sys.executable, "-m", "haproxy_guard.cli", "serve", "--host", "127.0.0.1", "--cert-dir",
               str(work / "certs")],
        BASELINE: [sys.executable, str(ROOT / "bench" / "minimal_webhook.py"), "--cert-dir", str(work / "certs")],
    }  # fmt: skip
    results: dict[tuple[str, str], list[Result]] = {}
    started: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    try:
        for server, command in commands.items():
            started[server] = _start(command, work, env)
        if "/mutate workload" in chosen:
            _check_reply(started[OURS][1], work / "certs" / "ca.crt", chosen["/mutate workload"][1][0])
        # Both servers run all along (an idle one costs nothing) and take turns, each round in the other
        # order: this machine's speed drifts by a third within minutes, so runs far apart compare badly.
        for round_index in range(args.rounds):
            for name, (path, _) in chosen.items():
                order = [OURS, BASELINE] if round_index % 2 == 0 else [BASELINE, OURS]
                for server in order:
                    url = f"https://127.0.0.1:{started[server][1]}{path}"
                    result = _wrk(server, url, scripts[name], args.duration, args.connections, warm=round_index == 0)
                    results.setdefault((server, name), []).append(result)
    finally:
        for process, _ in started.values():
            process.terminate()
            process.wait(10)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"wrk -t1 -c{args.connections} -d{args.duration}s, {args.rounds} interleaved rounds; every request's "
        "body differs except 'cached'; medians of the rounds"
    )
    print(f"{'case':<36}{'server':<17}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}  errors")
    for (server, name), runs in results.items():
        errors = "; ".join(sorted({run.errors for run in runs if run.errors != "none"})) or "none"
        print(
            f"{name:<36}{server:<17}{median(r.requests_per_second for r in runs):>9.0f}"
            f"{median(r.p50_ms for r in runs):>9.2f}{median(r.p99_ms for r in runs):>9.2f}  {errors}"
        )
    for name in chosen:
        pairs = list(zip(results[OURS, name], results[BASELINE, name], strict=True))
        throughput = [ours.requests_per_second / base.requests_per_second for ours, base in pairs]
        p99 = [ours.p99_ms / base.p99_ms for ours, base in pairs]
        print(
            f"{name:<36} throughput {median(throughput):.2f}x the minimal webhook (rounds: "
            f"{', '.join(f'{ratio:.2f}' for ratio in throughput)}; goal >= 0.9 for workloads), "
            f"p99 {median(p99):.2f}x (rounds: {', '.join(f'{ratio:.2f}' for ratio in p99)}; goal <= 1.2)"
        )
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
