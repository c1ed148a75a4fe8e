"""Summarise `haproxy-guard drill --format json` reports as the README's campaign table: per report (one
HAProxy branch each) and scenario, failed requests per run as written and mutated (min-max, mean), and the
runs in which the mutated spec lost anything.

    for v in 2.6 2.8 3.0 3.2 3.4; do
        haproxy-guard drill examples/ --runs 10 --haproxy-version $v --format json > campaign-$v.json
    done
    .venv/bin/python bench/drill/summarize.py campaign-*.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _spread(values: list[int]) -> str:
    if not values:
        return "-"
    return f"{min(values)}-{max(values)} (mean {sum(values) / len(values):.1f})"


def main(paths: list[str]) -> None:
    print(
        "| branch | scenario | runs | requests per run | failed per run, as written | failed per run, mutated | mutated runs that lost any |"
    )
    print("|---|---|---|---|---|---|---|")
    for path in paths:
        report = json.loads(Path(path).read_text())
        scenarios = list(dict.fromkeys(run["scenario"] for run in report["runs"]))
        for scenario in scenarios:
            runs = [run for run in report["runs"] if run["scenario"] == scenario]
            failed = {
                spec: [sum(run["failures"].values()) for run in runs if run["spec"] == spec]
                for spec in ("as-written", "mutated")
            }
            requests = [run["requests"] for run in runs]
            version = runs[0]["haproxy_version"]
            lost = sum(1 for value in failed["mutated"] if value)
            print(
                f"| {version} | {scenario} | {len(failed['mutated'])} | {min(requests)}-{max(requests)} | "
                f"{_spread(failed['as-written'])} | {_spread(failed['mutated'])} | {lost} |"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
