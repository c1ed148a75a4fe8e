"""Benchmark: `haproxy-guard audit` beside checkov and the Kyverno CLI, on the same generated corpus, one run.

The corpus (`bench/corpus.py`): 1,000 HAProxy releases (ConfigMap + Deployment + Service each, 50 distinct
configurations over four HAProxy branches) and 500 unrelated Deployments. Each tool runs as a subprocess on
the same folder, `--runs` times in turn; the median wall time and the largest peak RSS (`bench/peak.py`, the
process tree's largest member) are printed with the ratios the goals are stated in. Peers:
- checkov (`--framework kubernetes`, a Python peer), installed into .bench/checkov on first use;
- the Kyverno CLI (`kyverno apply bench/kyverno-policy.yaml --resource DIR`, five equivalent rules), built
  from the Go module proxy into .bench/kyverno on first use (about 12 minutes of CPU: see bench/README.md).
Run by hand: `.venv/bin/python bench/bench_audit.py [--runs 3] [--releases 1000]`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import peak
from bench.corpus import IMAGES, configuration, write
from haproxy_guard.policies.haproxy.validator import discover_binaries, launch_command
from haproxy_guard.policies.model.mounts import image_version

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / ".bench"
CHECKOV_VENV = BENCH / "checkov"
KYVERNO = BENCH / "kyverno"
KYVERNO_MODULE = "github.com/kyverno/kyverno@v1.19.1"
POLICY = ROOT / "bench" / "kyverno-policy.yaml"


def measure(command: list[str]) -> tuple[float, float, int, float]:
    """Wall seconds, peak RSS in MiB, the exit code and CPU seconds (`bench/peak.py`: the largest of the
    process and the descendants it reaped, so `haproxy -c` checks count too, never the benchmark's own size;
    CPU adds up the process and those descendants, the checks' own CPU included)."""
    measured = peak.run(command)
    return measured.seconds, measured.peak_mib, measured.exit_code, measured.cpu_seconds


def floor_cpu(folder: Path, configs: int) -> tuple[float, int]:
    """CPU seconds of the corpus's distinct `haproxy -c` checks run bare (no sandbox, one after another), and
    their number: the least any tool that runs them spends on this machine."""
    binaries = discover_binaries()
    total, runs = 0.0, 0
    for index in range(configs):
        branch = image_version(IMAGES[index % len(IMAGES)])
        if branch not in binaries:
            continue
        config = folder.parent / f"floor-{index}.cfg"
        config.write_text(configuration(index))
        total += peak.run([*launch_command(binaries[branch]), "-c", "-f", str(config)]).cpu_seconds
        config.unlink()
        runs += 1
    return total, runs


def checkov_binary() -> Path:
    binary = CHECKOV_VENV / "bin" / "checkov"
    if not binary.exists():
        print("installing checkov into .bench/checkov (first run only)...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(CHECKOV_VENV)], check=True)
        subprocess.run([str(CHECKOV_VENV / "bin" / "pip"), "install", "--quiet", "checkov"], check=True)
    return binary


def kyverno_binary() -> Path:
    if not KYVERNO.exists():
        print("building the Kyverno CLI into .bench/kyverno (first run only, ~12 min of CPU)...", flush=True)
        found = subprocess.run(
            ["go", "mod", "download", "-json", KYVERNO_MODULE], check=True, capture_output=True, text=True
        )
        source = Path(json.loads(found.stdout)["Dir"])
        with tempfile.TemporaryDirectory(prefix="kyverno-src-") as work:
            copy = Path(work) / "src"
            shutil.copytree(source, copy)
            subprocess.run(["chmod", "-R", "u+w", str(copy)], check=True)
            subprocess.run(["go", "build", "-o", str(KYVERNO), "./cmd/cli/kubectl-kyverno"], cwd=copy, check=True)
    return KYVERNO


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--releases", type=int, default=1000)
    parser.add_argument("--others", type=int, default=500)
    parser.add_argument("--configs", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--checkov", type=Path, help="checkov binary (default: installed into .bench/checkov)")
    parser.add_argument("--kyverno", type=Path, help="Kyverno CLI binary (default: built into .bench/kyverno)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="hg-audit-bench-"))
    try:
        objects = write(folder, args.releases, args.others, args.configs)
        tools = {
            "haproxy-guard": [str(ROOT / ".venv" / "bin" / "haproxy-guard"), "audit", str(folder), "--format", "json"],
            "kyverno": [str(args.kyverno or kyverno_binary()), "apply", str(POLICY), "--resource", str(folder)],
            "checkov": [
                str(args.checkov or checkov_binary()), "-d", str(folder), "--framework", "kubernetes",
                "--quiet", "--compact", "-o", "json", "--skip-download",
            ],
        }  # fmt: skip
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; corpus: "
            f"{args.releases} releases + {args.others} other Deployments = {objects} objects, "
            f"{args.configs} configurations; {args.runs} runs each, in turn"
        )
        times: dict[str, list[float]] = {name: [] for name in tools}
        peaks: dict[str, list[float]] = {name: [] for name in tools}
        codes: dict[str, set[int]] = {name: set() for name in tools}
        cpu: dict[str, list[float]] = {name: [] for name in tools}
        for _ in range(args.runs):
            for name, command in tools.items():
                seconds, peak, code, used = measure(command)
                times[name].append(seconds)
                peaks[name].append(peak)
                codes[name].add(code)
                cpu[name].append(used)
        median = {name: statistics.median(values) for name, values in times.items()}
        peak_of = {name: max(values) for name, values in peaks.items()}
        for name in tools:
            runs = ", ".join(f"{value:.1f}" for value in times[name])
            used = statistics.median(cpu[name])
            print(
                f"{name:14} median {median[name]:6.2f} s  (runs: {runs})  peak RSS {peak_of[name]:6.0f} MiB  "
                f"CPU {used:6.2f} s ({used / median[name]:.2f} of {os.cpu_count()} cores)  exit {sorted(codes[name])}"
            )
        guard = "haproxy-guard"
        floor, checks = floor_cpu(folder, min(args.configs, args.releases))
        print(
            f"floor: the corpus's {checks} distinct haproxy -c checks, bare and one at a time: CPU {floor:.2f} s "
            f"({floor / statistics.median(cpu[guard]) * 100:.0f} % of haproxy-guard's)"
        )
        for peer, goal_time, goal_memory in (("checkov", 10, 4), ("kyverno", 2.5, 2)):
            print(
                f"{peer:8} / haproxy-guard: time {median[peer] / median[guard]:5.2f}x (goal >= {goal_time}x), "
                f"peak memory {peak_of[peer] / peak_of[guard]:5.2f}x (goal >= {goal_memory}x)"
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
