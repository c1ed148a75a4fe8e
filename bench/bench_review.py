"""Benchmark: one admission review in process, this tree beside another git revision, runs alternated.

Calls the webhook's ASGI application directly (no TLS, no HTTP server, no client): what a review costs
haproxy-guard itself. Each run is a fresh process that answers `--reviews` unique reviews (the bodies of
`bench_mutate.py`, sent in turn: name, uid, labels and image tag differ per review) after 500 to warm up, and prints the
mean time per review. With `--against REV`, a worktree of REV runs the same bodies, alternating with this
tree run by run (this machine's speed drifts within minutes: only alternated runs compare). Prints every
run and the medians. Run by hand:
`.venv/bin/python bench/bench_review.py [--case "/mutate workload"] [--rounds 7] [--against 5cd67d5]`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import asyncio, sys, time
from haproxy_guard.cli.main import make_validator
from haproxy_guard.policies.context import Context
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.webhook.admission import Admission
from haproxy_guard.webhook.app import create_app

templates, path, count = open(sys.argv[1], "rb").read().split(b"\\0"), sys.argv[2], int(sys.argv[3])
bodies = [templates[i % len(templates)].replace(b"@ID@", b"r-%d" % i).replace(b"@N@", b"%d" % i)
          for i in range(count + 500)]
settings = Settings()
app = create_app(Admission(settings, Context(make_validator(settings))))

async def main():
    replies = []
    async def send(message):
        replies.append(message)
    async def one(body):
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        async def receive():
            return messages.pop()
        scope = {"type": "http", "method": "POST", "path": path, "query_string": b"", "root_path": "",
                 "headers": [(b"content-length", str(len(body)).encode())], "asgi": {"version": "3.0"}}
        await app(scope, receive, send)
    for body in bodies[:500]:
        await one(body)
    assert replies[0]["status"] == 200, replies[:2]
    started = time.perf_counter()
    for body in bodies[500:]:
        await one(body)
    print((time.perf_counter() - started) / count * 1e6)

asyncio.run(main())
"""


def _run(tree: Path, child: Path, template: Path, path: str, count: int) -> float:
    """One fresh process importing haproxy_guard from `tree`: microseconds per review."""
    output = subprocess.run(
        [sys.executable, str(child), str(template), path, str(count)],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin", "KUBECONFIG": "/nonexistent"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(output.strip().splitlines()[-1])


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from bench.bench_mutate import cases  # needs ROOT on the path

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--case", default="/mutate workload", choices=sorted(cases()))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reviews", type=int, default=2500)
    parser.add_argument("--against", help="a git revision to run alternately with this tree")
    args = parser.parse_args()
    path, templates = cases()[args.case]
    with tempfile.TemporaryDirectory(prefix="hg-bench-review-") as work:
        folder = Path(work)
        (folder / "template.json").write_bytes(b"\0".join(templates))  # JSON never holds a raw NUL
        (folder / "child.py").write_text(CHILD)
        trees = {"this tree": ROOT}
        if args.against:
            subprocess.run(
                ["git", "worktree", "add", "--detach", str(folder / "other"), args.against],
                cwd=ROOT, check=True, capture_output=True,
            )  # fmt: skip
            trees[args.against] = folder / "other"
        try:
            times: dict[str, list[float]] = {name: [] for name in trees}
            for round_index in range(args.rounds):
                names = list(trees) if round_index % 2 == 0 else list(reversed(trees))
                for name in names:
                    times[name].append(
                        _run(trees[name], folder / "child.py", folder / "template.json", path, args.reviews)
                    )
        finally:
            if args.against:
                subprocess.run(["git", "worktree", "remove", "--force", str(folder / "other")], cwd=ROOT, check=False)
    print(f"{args.case}: microseconds per review in process, {args.reviews} unique reviews per run, runs alternated")
    for name, runs in times.items():
        print(f"  {name:<12} median {statistics.median(runs):7.1f}  (runs: {', '.join(f'{t:.0f}' for t in runs)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
