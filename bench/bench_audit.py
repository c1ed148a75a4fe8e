"""Benchmark: `haproxy-guard audit` of 1,000 HAProxy Deployments with their ConfigMaps, beside checkov.

Generates the corpus (100 files of 10 Deployments + 10 ConfigMaps, every configuration different, so every
`haproxy -c` is a cache miss), then times each tool as a subprocess and reads its peak RSS (wait4). checkov
(`--framework kubernetes`, a Python peer) is installed into .bench/checkov on first use. Run by hand:
`.venv/bin/python bench/bench_audit.py [--workloads 1000]`.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CHECKOV_VENV = ROOT / ".bench" / "checkov"

CONFIG = """global
  maxconn 2000
  hard-stop-after 30s
defaults
  mode http
  timeout client 30s
  timeout server 30s
  timeout connect 5s
  option idle-close-on-response
frontend fe
  bind :8080
  default_backend app
frontend health
  bind :8405
  monitor-uri /healthz
  acl down nbsrv(app) lt 1
  monitor fail if down
backend app
  server a 10.{a}.{b}.1:8080 check
  server b 10.{a}.{b}.2:8080 check
"""


def corpus(folder: Path, workloads: int) -> None:
    per_file = 10
    for file_index in range(0, workloads, per_file):
        documents = []
        for index in range(file_index, min(file_index + per_file, workloads)):
            name = f"edge-{index}"
            documents.append(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": name, "namespace": "edge"},
                    "data": {"haproxy.cfg": CONFIG.format(a=index // 250, b=index % 250)},
                }
            )
            documents.append({
                "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "edge"},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}}, "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "haproxy", "image": "haproxy:2.8",
                                             "resources": {"limits": {"cpu": "1", "memory": "256Mi"}},
                                             "volumeMounts": [{"name": "config", "mountPath": "/usr/local/etc/haproxy"}]}],
                             "volumes": [{"name": "config", "configMap": {"name": name}}]}}},
            })  # fmt: skip
        (folder / f"apps-{file_index // per_file:03}.yaml").write_text(yaml.safe_dump_all(documents, sort_keys=False))


def measure(command: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MiB of the process, and its exit code."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, usage.ru_maxrss / 1024, process.returncode


def checkov_binary() -> Path:
    binary = CHECKOV_VENV / "bin" / "checkov"
    if not binary.exists():
        print("installing checkov into .bench/checkov (first run only)...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(CHECKOV_VENV)], check=True)
        subprocess.run([str(CHECKOV_VENV / "bin" / "pip"), "install", "--quiet", "checkov"], check=True)
    return binary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workloads", type=int, default=1000)
    parser.add_argument("--checkov", type=Path, help="checkov binary (default: installed into .bench/checkov)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="hg-audit-bench-"))
    try:
        corpus(folder, args.workloads)
        guard = [str(ROOT / ".venv" / "bin" / "haproxy-guard"), "audit", str(folder), "--format", "json"]
        checkov = [
            str(args.checkov or checkov_binary()),
            "-d",
            str(folder),
            "--framework",
            "kubernetes",
            "--quiet",
            "--compact",
            "-o",
            "json",
            "--skip-download",
        ]
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
            f"corpus: {args.workloads} Deployments + {args.workloads} ConfigMaps in {len(list(folder.iterdir()))} files"
        )
        results = {}
        for name, command in (("haproxy-guard audit", guard), ("checkov --framework kubernetes", checkov)):
            seconds, peak, code = measure(command)
            results[name] = seconds
            print(f"{name:32} {seconds:8.1f} s   peak RSS {peak:7.0f} MiB   exit {code}")
        ratio = results["haproxy-guard audit"] / results["checkov --framework kubernetes"]
        print(
            f"time ratio haproxy-guard / checkov: {ratio:.2f} (haproxy-guard also runs haproxy -c on every ConfigMap)"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
