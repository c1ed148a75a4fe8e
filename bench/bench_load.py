"""Benchmark: sustained load, a soak, and a burst of large bodies against the real `serve` process over TLS.

- *Load*: `--connections` clients (default 16) for `--seconds` (default 60) send a mix of reviews: a
  Deployment to /mutate, the ConfigMap it mounts to /validate (the validator cached after the first), and a
  ConfigMap made unique per request (the validator cold every time). Prints requests/s, p50/p99 per kind,
  errors, and RSS and open files of the server at warm-up end and at the end (ratio end/warm-up).
- *Soak*: the same mix at a moderate rate (`--soak-seconds`, default 0 = skipped; `--soak-rate` requests/s),
  RSS and open files sampled every 30 s.
- *Burst*: 60 connections each start a 5 MB body and stall; then they go away. RSS before, at the peak and
  30 s after (ratio after/before; the webhook's budget bounds the peak).

Run by hand: `.venv/bin/python bench/bench_load.py [--seconds 60] [--soak-seconds 600]`.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from haproxy_guard.certs.authority import generate  # noqa: E402

GOLDEN = ROOT / "tests" / "golden"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _review(obj: dict[str, Any], uid: str) -> dict[str, Any]:
    kind = obj["kind"]
    group, _, version = obj["apiVersion"].rpartition("/")
    request = {
        "uid": uid,
        "kind": {"group": group, "version": version, "kind": kind},
        "namespace": "shop",
        "operation": "CREATE",
        "object": obj,
    }
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


DEPLOYMENT = _load(GOLDEN / "prestop-wait" / "missing-exec" / "input.yaml")
CONFIGMAP = _load(GOLDEN / "haproxy-config-valid" / "valid-configmap" / "input.yaml")


def _body(kind: str, counter: int) -> tuple[str, bytes]:
    if kind == "mutate-deployment":
        return "/mutate", json.dumps(_review(DEPLOYMENT, f"d-{counter}")).encode()
    configmap = copy.deepcopy(CONFIGMAP)
    if kind == "validate-cold":
        configmap["data"]["haproxy.cfg"] += f"# request {counter}\n"
    return "/validate", json.dumps(_review(configmap, f"c-{counter}")).encode()


KINDS = ("mutate-deployment", "mutate-deployment", "validate-cached", "validate-cold")


def _rss_and_files(pid: int) -> tuple[float, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return rss_kb / 1024, sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())


class Server:
    def __init__(self, folder: Path) -> None:
        generate(folder / "certs", ["localhost", "127.0.0.1"])
        self.port = _free_port()
        self.ca = folder / "certs" / "ca.crt"
        env = {**os.environ, "KUBECONFIG": "/nonexistent"}
        env.pop("KUBERNETES_SERVICE_HOST", None)
        self.log = (folder / "server.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "haproxy_guard.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--metrics-port", "0", "--cert-dir", str(folder / "certs")],
            stdout=self.log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with self.client() as client:
                    if client.get("/readyz").status_code == 200:
                        return
            except httpx.TransportError:
                time.sleep(0.2)
        raise SystemExit("the server did not become ready")

    def client(self) -> httpx.Client:
        context = ssl.create_default_context(cafile=self.ca)
        return httpx.Client(base_url=f"https://localhost:{self.port}", verify=context, timeout=30)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


def _drive(server: Server, seconds: float, connections: int, rate: float | None = None) -> dict[str, Any]:
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    counter = iter(range(10**9))
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    interval = connections / rate if rate else 0.0

    def worker(index: int) -> None:
        with server.client() as client:
            turn = index
            while time.monotonic() < stop_at:
                kind = KINDS[turn % len(KINDS)]
                turn += 1
                with lock:
                    number = next(counter)
                path, body = _body(kind, number)
                started = time.perf_counter()
                try:
                    reply = client.post(path, content=body, headers={"Content-Type": "application/json"})
                    ok = reply.status_code == 200
                except httpx.HTTPError as error:
                    ok, reply = False, None
                    errors.append(type(error).__name__)
                elapsed = time.perf_counter() - started
                if ok:
                    latencies[kind].append(elapsed)
                elif reply is not None:
                    errors.append(str(reply.status_code))
                if interval:
                    time.sleep(max(0.0, interval - elapsed))

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = sum(len(values) for values in latencies.values())
    summary: dict[str, Any] = {"requests": total, "per_second": total / seconds, "errors": len(errors)}
    for kind, values in sorted(latencies.items()):
        ordered = sorted(values)
        summary[kind] = (
            f"n={len(values)} p50={statistics.median(ordered) * 1000:.1f}ms "
            f"p99={ordered[int(len(ordered) * 0.99) - 1] * 1000:.1f}ms"
        )
    return summary


def _burst(server: Server, connections: int = 60, size: int = 5 * 1024 * 1024) -> tuple[float, float, float, int]:
    before, _ = _rss_and_files(server.process.pid)
    sockets = []
    context = ssl.create_default_context(cafile=server.ca)
    refused = 0
    for _ in range(connections):
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        tls = context.wrap_socket(raw, server_hostname="localhost")
        tls.sendall(f"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Length: {size}\r\n\r\n".encode())
        try:
            tls.sendall(b" " * (size // 2))
        except OSError:
            refused += 1
        sockets.append(tls)
    time.sleep(2)
    peak, _ = _rss_and_files(server.process.pid)
    for tls in sockets:
        tls.settimeout(2)
        try:
            if tls.recv(100).startswith(b"HTTP/1.1 503"):
                refused += 1
        except OSError:
            pass
        tls.close()
    time.sleep(30)
    after, _ = _rss_and_files(server.process.pid)
    return before, peak, after, refused


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--soak-seconds", type=float, default=0)
    parser.add_argument("--soak-rate", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        server = Server(Path(folder))
        try:
            _drive(server, 5, args.connections)  # warm-up: imports, caches, the validator's first runs
            warm_rss, warm_files = _rss_and_files(server.process.pid)
            load = _drive(server, args.seconds, args.connections)
            end_rss, end_files = _rss_and_files(server.process.pid)
            print(f"load: {args.connections} connections, {args.seconds:g} s: {json.dumps(load, indent=1)}")
            print(f"  RSS warm-up {warm_rss:.0f} MiB -> end {end_rss:.0f} MiB (ratio {end_rss / warm_rss:.2f}); "
                  f"open files {warm_files} -> {end_files}")  # fmt: skip
            if args.soak_seconds:
                samples = []
                for _ in range(max(1, int(args.soak_seconds // 30))):
                    soak = _drive(server, 30, 4, rate=args.soak_rate)
                    samples.append((*_rss_and_files(server.process.pid), soak["errors"], soak["requests"]))
                print("soak (RSS MiB, open files, errors, requests per 30 s):")
                for rss, files, errors, requests in samples:
                    print(f"  {rss:.0f} MiB  {files} files  {errors} errors  {requests} requests")
                print(f"  RSS first -> last sample ratio {samples[-1][0] / samples[0][0]:.2f}")
            before, peak, after, refused = _burst(server)
            print(f"burst: 60 connections x 5 MB stalled halfway: RSS before {before:.0f} MiB, peak {peak:.0f} MiB, "
                  f"30 s after {after:.0f} MiB (after/before {after / before:.2f}); 503 or refused: {refused}")  # fmt: skip
        finally:
            server.stop()


if __name__ == "__main__":
    main()
