"""The node tests' measurements: each rollout under load (kind, branch, as written or mutated, failures by kind)
beside the drill's prediction for the same workload, printed as tables in the test run's summary and written to
.cache/node/rollouts.md."""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.helpers import ROOT

OUTPUT = ROOT / ".cache" / "node" / "rollouts.md"


@dataclass
class Measured:
    kind: str
    branch: str
    spec: str
    """"as-written" or "mutated"."""
    total: int
    failures: dict[str, int]
    drill_total: int | None = None
    drill_failures: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    @property
    def drill_failed(self) -> int | None:
        return None if self.drill_total is None else sum(self.drill_failures.values())


RESULTS: list[Measured] = []


def _kinds(failures: dict[str, int]) -> str:
    return ", ".join(f"{kind} {count}" for kind, count in failures.items() if count) or "-"


def table_lines() -> list[str]:
    if not RESULTS:
        return []
    lines = [
        "node rollouts under load (kubectl rollout restart, keep-alive and new-connection clients through the Service):",
        "| kind | branch | spec | node: failed/total | node failures by kind | drill: failed/total | drill failures by kind |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in RESULTS:
        drill = "-" if m.drill_total is None else f"{m.drill_failed}/{m.drill_total}"
        lines.append(
            f"| {m.kind} | {m.branch} | {m.spec} | {m.failed}/{m.total} | {_kinds(m.failures)} | {drill} | {_kinds(m.drill_failures)} |"
        )
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text("\n".join(lines) + "\n")
    return lines
