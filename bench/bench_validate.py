"""Benchmark: validation latency for a 20-line and a 500-line configuration, cold and cached, beside a
bare `haproxy -c` of the same file (same binary). Run by hand: `.venv/bin/python bench/bench_validate.py`.

The validator replaces server host names with 127.0.0.1 and runs `haproxy -c` behind the kernel sandbox (the
jail launcher: rlimits, namespaces, Landlock, seccomp); the bare run resolves names (libc), which without
network fails fast only inside a network namespace. Cold: each run a different configuration (a unique
comment), so the cache misses and the rendering, the jail and `haproxy -c` all run. Cached: the same
configuration again. Ratios against the bare run of the same file are printed, measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from haproxy_guard.policies.haproxy.bundle import ConfigBundle  # noqa: E402
from haproxy_guard.policies.haproxy.validator import Validator, discover_binaries, launch_command  # noqa: E402

SMALL = """global
  maxconn 4000
  hard-stop-after 30s
defaults
  mode http
  timeout client 30s
  timeout server 30s
  timeout connect 5s
  option idle-close-on-response
frontend fe
  bind :8080
  acl api path_beg /api
  use_backend api if api
  default_backend web
backend web
  server w1 10.0.0.1:80 check
  server w2 10.0.0.2:80 check
backend api
  server a1 10.0.1.1:8080 check
"""


def large() -> str:
    lines = [*SMALL.splitlines()[:9], "frontend fe", "  bind :8080"]
    backends = []
    for index in range(60):
        lines.append(f"  acl host_{index} hdr(host) -i svc{index}.example.com")
        lines.append(f"  use_backend be_{index} if host_{index}")
        backends += [
            f"backend be_{index}",
            "  balance roundrobin",
            "  option httpchk GET /healthz",
            f"  server s{index}a 10.1.{index}.1:8080 check",
            f"  server s{index}b 10.1.{index}.2:8080 check",
            f"  server s{index}c svc{index}.default.svc.cluster.local:8080 check",
        ]
    text = [*lines, "  default_backend be_0", *backends]
    while len(text) < 500:
        text.append("  # padding")
    return "\n".join(text[:500]) + "\n"


def timed(runs: int, action: Callable[[int], object]) -> list[float]:
    samples = []
    for index in range(runs):
        started = time.perf_counter()
        action(index)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"median {statistics.median(ordered):8.3f} ms  p95 {p95:8.3f} ms  (n={len(ordered)})"


def _measure(  # noqa: PLR0917
    validator: Validator, binary: str, isolate: list[str], text: str, runs: int, version: str
) -> tuple[list[float], list[float], list[float]]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "haproxy.cfg"
        path.write_text(text)
        command = [*isolate, *launch_command(binary), "-c", "-q", "-dr", "-f", str(path)]
        bare = timed(runs, lambda _i: subprocess.run(command, env={}, capture_output=True, check=True))

    def cold_run(index: int) -> object:
        return validator.validate(ConfigBundle((("haproxy.cfg", text + f"# run {index} {time.time_ns()}\n"),)), version)

    cold = timed(runs, cold_run)
    same = ConfigBundle((("haproxy.cfg", text),))
    cached = timed(runs * 10, lambda _i: validator.validate(same, version))
    return bare, cold, cached


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--version", default="2.8")
    args = parser.parse_args()
    binaries = discover_binaries()
    binary = binaries[args.version]
    validator = Validator(binaries, timeout_seconds=10)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"HAProxy {args.version} ({binary})"
    )
    print(f"sandbox layers: {validator.layers().describe()}")
    # The bare run gets no network either (a network namespace, as the validator's jail uses when it may):
    # with a working but unreachable resolver every server name would cost seconds.
    isolate = (
        ["unshare", "--net", "--"] if subprocess.run(["unshare", "--net", "true"], check=False).returncode == 0 else []
    )
    print(f"bare runs isolated from the network: {'yes (unshare --net)' if isolate else 'no'}")
    for label, text in (("20-line", SMALL), ("500-line", large())):
        assert validator.validate(ConfigBundle((("haproxy.cfg", text),)), args.version).valid
        bare, cold, cached = _measure(validator, binary, isolate, text, args.runs, args.version)
        print(f"{label:9} bare haproxy -c : {summary(bare)}")
        print(
            f"{label:9} validator cold  : {summary(cold)}  ({statistics.median(cold) / statistics.median(bare):.2f}x bare)"
        )
        print(f"{label:9} validator cached: {summary(cached)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
