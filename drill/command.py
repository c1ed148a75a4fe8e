"""`haproxy-guard drill`: prepare the input's HAProxy workloads, run the scenarios as written and mutated,
print the report. Exit 0 when every mutated run lost no request, 1 otherwise, 2 on bad input (`DrillError`,
raised before anything starts). Progress goes to stderr; every process started is gone on return, also on
Ctrl-C or SIGTERM (the scenario's `finally`, and a parent-death signal should the drill itself be killed).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from haproxy_guard.cli.manifests import load
from haproxy_guard.drill.prepare import DrillError, Target, prepare
from haproxy_guard.drill.report import Drilled, as_json, as_text, failures, plot, plotting_available
from haproxy_guard.drill.scenarios import Options, run_scenario
from haproxy_guard.policies.haproxy.validator import Validator
from haproxy_guard.policies.model.settings import Settings

EXIT_OK, EXIT_LOST = 0, 1


@dataclass(frozen=True)
class DrillRequest:
    paths: Sequence[str]
    scenarios: Sequence[str]
    runs: int
    output_format: str
    plot_path: Path | None
    haproxy_version: str | None
    options: Options


def _progress(text: str) -> None:
    print(f"drill: {text}", file=sys.stderr, flush=True)


_INTERRUPTED = threading.Event()


async def _watch_interrupt() -> None:
    """Raise KeyboardInterrupt in the event loop once a stop signal arrived: the handler's own exception can be
    swallowed where Python ignores exceptions (a weakref callback, a `__del__`), and the drill then ran on."""
    while not _INTERRUPTED.is_set():
        await asyncio.sleep(0.1)
    raise KeyboardInterrupt


async def _drill(targets: Sequence[Target], request: DrillRequest, folder: Path) -> list[Drilled]:
    watchdog = asyncio.create_task(_watch_interrupt())
    try:
        return await _drill_all(targets, request, folder)
    finally:
        watchdog.cancel()


async def _drill_all(targets: Sequence[Target], request: DrillRequest, folder: Path) -> list[Drilled]:
    drilled: list[Drilled] = []
    for target_index, target in enumerate(targets):
        for scenario in request.scenarios:
            for run in range(request.runs):
                for prepared in target.specs:
                    place = folder / f"t{target_index}" / f"{scenario}-{prepared.spec}-{run}"
                    _progress(f"{target.title}: {scenario}, {prepared.spec}, run {run + 1}/{request.runs}")
                    result = await run_scenario(scenario, prepared, place, request.options)
                    _progress(
                        f"  {len(result.recorder.outcomes)} requests, {failures(result)} failed "
                        f"{result.recorder.failures()} in {result.duration:.1f}s"
                    )
                    drilled.append(Drilled(target.title, result))
    return drilled


def _interrupt_on_signals() -> None:
    """SIGINT and SIGTERM raise KeyboardInterrupt in the main thread wherever it is. For SIGINT this replaces
    asyncio.run's own handling, which cancels the main task instead: a cancellation can be lost (Python 3.11's
    `wait_for` may swallow one that lands as its inner task finishes), and the drill then ran on after Ctrl-C."""

    def handler(*_: object) -> None:
        _INTERRUPTED.set()  # if this exception is swallowed, `_watch_interrupt` raises it again
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run_drill(request: DrillRequest, settings: Settings, validator: Validator | None) -> int:
    if validator is None:
        raise DrillError("no HAProxy binary found: the drill runs the real HAProxy of the pods' version")
    if request.runs < 1:
        raise DrillError("--runs must be at least 1")
    if request.plot_path is not None and not plotting_available():
        raise DrillError("--plot needs matplotlib: pip install 'haproxy-guard[drill]'")
    documents = load(request.paths)
    _interrupt_on_signals()
    with tempfile.TemporaryDirectory(prefix="haproxy-guard-drill-", ignore_cleanup_errors=True) as work:
        folder = Path(work)
        targets = prepare(documents, settings, validator, folder, request.haproxy_version)
        drilled = asyncio.run(_drill(targets, request, folder))
    if request.output_format == "json":
        print(json.dumps(as_json(drilled, targets), indent=2))
    else:
        print(as_text(drilled, targets))
    if request.plot_path is not None:
        plot(drilled, request.plot_path)
        _progress(f"timeline written to {request.plot_path}")
    lost = sum(failures(item.run) for item in drilled if item.run.spec == "mutated")
    return EXIT_OK if lost == 0 else EXIT_LOST
