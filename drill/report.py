"""The drill's answer: a text table (scenario x spec), the JSON of the contract, and a PNG timeline.

JSON: `{"runs": [{"scenario", "spec", "haproxy_version", "requests", "failures": {refused, reset, timeout,
status_5xx}, "p99_ms", ...}], "summary": {"as_written_failures", "mutated_failures"}}`; each run also says
which workload it drilled, its events (seconds since the load started) and any note.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from haproxy_guard.drill.load import KINDS
from haproxy_guard.drill.prepare import Target
from haproxy_guard.drill.scenarios import RunResult

BUCKET_SECONDS = 0.25
EVENT_STYLES = {
    "deleted": ("tab:red", "deletion"),
    "endpoint removed": ("tab:orange", "endpoint removed"),
    "preStop ended": ("tab:purple", "end of preStop"),
    "stop signal": ("tab:brown", "stop signal"),
    "SIGKILL": ("black", "SIGKILL"),
    "ready": ("tab:green", "new replica ready"),
}


@dataclass(frozen=True)
class Drilled:
    target: str
    run: RunResult


def failures(run: RunResult) -> int:
    return sum(run.recorder.failures().values())


def as_json(drilled: Sequence[Drilled], targets: Sequence[Target]) -> dict[str, Any]:
    runs = []
    for item in drilled:
        run = item.run
        runs.append(
            {
                "workload": item.target,
                "scenario": run.scenario,
                "spec": run.spec,
                "haproxy_version": run.version,
                "requests": len(run.recorder.outcomes),
                "failures": run.recorder.failures(),
                "p99_ms": run.recorder.p99_ms(),
                "seconds": round(run.duration, 2),
                "events": [{"seconds": round(e.seconds, 3), "event": e.what, "replica": e.replica} for e in run.events],
                "note": run.note,
            }
        )
    advice = {
        target.title: [str(advice) for advice in target.specs[1].advice] for target in targets if target.specs[1].advice
    }
    return {
        "runs": runs,
        "summary": {
            "as_written_failures": sum(failures(i.run) for i in drilled if i.run.spec == "as-written"),
            "mutated_failures": sum(failures(i.run) for i in drilled if i.run.spec == "mutated"),
        },
        "config_advice_applied": advice,
    }


def as_text(drilled: Sequence[Drilled], targets: Sequence[Target]) -> str:
    lines: list[str] = []
    for target in targets:
        lines.append(f"{target.title} (HAProxy {target.specs[0].version})")
        for prepared in target.specs:
            plan = prepared.plan
            strategy = plan.strategy
            lines.append(
                f"  {prepared.spec:<10} preStop {plan.pre_stop.kind} {plan.pre_stop.seconds:g}s, grace {plan.grace_seconds:g}s, "
                f"stop signal {plan.stop_signal.name}, readiness {plan.readiness.kind}"
                f"{' ' + plan.readiness.path if plan.readiness.kind in {'http', 'https'} else ''}, "
                f"{strategy.kind} surge {strategy.max_surge} unavailable {strategy.max_unavailable} "
                f"minReady {strategy.min_ready_seconds:g}s, {plan.replicas} replicas"
            )
            for note in prepared.notes:
                lines.append(f"             note: {note}")
        for advice in target.specs[1].advice:
            lines.append(f"  config advice applied to the mutated copy: {advice}")
        header = (
            f"  {'scenario':<11} {'spec':<10} {'runs':>4} {'requests':>9} "
            + " ".join(f"{k:>10}" for k in KINDS)
            + f" {'p99 ms':>8}  failures per run"
        )
        lines.append(header)
        for scenario in dict.fromkeys(i.run.scenario for i in drilled if i.target == target.title):
            for spec in ("as-written", "mutated"):
                runs = [
                    i.run
                    for i in drilled
                    if i.target == target.title and i.run.scenario == scenario and i.run.spec == spec
                ]
                if not runs:
                    continue
                totals = dict.fromkeys(KINDS, 0)
                for run in runs:
                    for kind, count in run.recorder.failures().items():
                        totals[kind] += count
                requests = sum(len(run.recorder.outcomes) for run in runs)
                p99 = max(run.recorder.p99_ms() for run in runs)
                per_run = ",".join(str(failures(run)) for run in runs)
                lines.append(
                    f"  {scenario:<11} {spec:<10} {len(runs):>4} {requests:>9} "
                    + " ".join(f"{totals[k]:>10}" for k in KINDS)
                    + f" {p99:>8.1f}  {per_run}"
                )
                notes = {run.note for run in runs if run.note}
                lines += [f"             {note}" for note in sorted(notes)]
    as_written = sum(failures(i.run) for i in drilled if i.run.spec == "as-written")
    mutated = sum(failures(i.run) for i in drilled if i.run.spec == "mutated")
    verdict = "the mutated spec lost no request" if mutated == 0 else "the mutated spec LOST requests"
    lines.append(f"failed requests: as written {as_written}, mutated {mutated}: {verdict}")
    return "\n".join(lines)


def plotting_available() -> bool:
    try:
        import matplotlib  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def plot(drilled: Sequence[Drilled], path: Path) -> None:
    """One panel per scenario and spec (the first run of each): answered and failed requests per second,
    with the pod lifecycle events as vertical lines (needs the `drill` extra: matplotlib)."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    panels: dict[tuple[str, str, str], RunResult] = {}
    for item in drilled:
        panels.setdefault((item.target, item.run.scenario, item.run.spec), item.run)
    keys = list(panels)
    scenarios = list(dict.fromkeys((k[0], k[1]) for k in keys))
    figure, axes = plt.subplots(len(scenarios), 2, figsize=(14, 3.2 * len(scenarios)), squeeze=False)
    for row, (target, scenario) in enumerate(scenarios):
        for column, spec in enumerate(("as-written", "mutated")):
            axis = axes[row][column]
            run = panels.get((target, scenario, spec))
            if run is None:
                axis.set_visible(False)
                continue
            _panel(axis, run, f"{scenario}, {spec}: {failures(run)} failed of {len(run.recorder.outcomes)}")
    figure.suptitle(f"haproxy-guard drill: {', '.join(dict.fromkeys(t for t, _ in scenarios))}")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def _panel(axis: Any, run: RunResult, title: str) -> None:
    end = max((o.start + o.seconds for o in run.recorder.outcomes), default=1.0)
    buckets = int(end / BUCKET_SECONDS) + 1
    answered, failed = [0.0] * buckets, [0.0] * buckets
    for outcome in run.recorder.outcomes:
        index = min(int((outcome.start + outcome.seconds) / BUCKET_SECONDS), buckets - 1)
        (answered if outcome.kind == "ok" else failed)[index] += 1 / BUCKET_SECONDS
    times = [index * BUCKET_SECONDS for index in range(buckets)]
    axis.plot(times, answered, color="tab:blue", label="answered/s")
    axis.bar(times, failed, width=BUCKET_SECONDS, color="tab:red", alpha=0.7, label="failed/s", align="edge")
    seen: set[str] = set()
    for event in run.events:
        for prefix, (color, label) in EVENT_STYLES.items():
            if event.what.startswith(prefix):
                axis.axvline(
                    event.seconds, color=color, linestyle="--", linewidth=1, label=None if label in seen else label
                )
                seen.add(label)
    axis.set_title(title, fontsize=9)
    axis.set_xlabel("seconds since load started")
    axis.legend(fontsize=7, loc="lower left")
