"""The engine and the drill agree on real charts: a spec that `audit` passes after `mutate` loses no request in
the drill, and a spec the drill shows losing requests as written has a finding that names the cause.

Only workloads whose HAProxy runs a configuration from a ConfigMap in the input can be drilled (the ingress
controllers write theirs at run time; redis-ha and Argo CD copy theirs through an init container). The cases:
the haproxytech chart's own documented preStop (it signals before waiting) with a configuration that has a
deep health endpoint (so `mutate` makes a spec that `audit` passes), Bitnami's image (SIGTERM stop), and a
chart default of one replica (a pod stop with nothing to fail over to). About 2 minutes each.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from haproxy_guard.cli.audit import audit
from haproxy_guard.cli.manifests import parse_text
from haproxy_guard.policies.haproxy.validator import Validator
from haproxy_guard.policies.model.settings import Settings
from tests.charts import corpus
from tests.helpers import ROOT

LOSS_CAUSES = frozenset({"prestop-wait", "haproxy-stop-signal", "termination-grace-period", "single-replica"})
"""Findings that name why a pod stop loses requests in the drill's `stop` scenario."""
ROLLOUT_POLICIES = LOSS_CAUSES | {"deployment-rolling-update", "deployment-recreate", "readiness-probe"}
"""Findings that leave a mutated spec short of what the drill needs to lose nothing."""
CASES = [
    ("haproxytech-haproxy", "health-endpoint"),
    ("bitnami-haproxy", "replicas-2"),
    ("haproxytech-haproxy", "default"),
]


def _policies(text: str, validator: Validator) -> set[str]:
    return {f.policy for result in audit(parse_text(text, "spec.yaml"), Settings(), validator) for f in result.findings}


def _drill(path: Path) -> dict[str, int]:
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "haproxy-guard"), "drill", str(path), "--scenario", "stop", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode in {0, 1}, result.stderr
    summary: dict[str, int] = json.loads(result.stdout)["summary"]
    return summary


@pytest.mark.parametrize(("source", "variant"), CASES, ids=[f"{s}:{v}" for s, v in CASES])
def test_audit_and_drill_agree(source: str, variant: str, validator: Validator, tmp_path: Path) -> None:
    text = corpus.render(source, variant)
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    mutated = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "haproxy-guard"), "mutate", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    ).stdout
    summary = _drill(path)
    as_written, after = _policies(text, validator), _policies(mutated, validator)
    if summary["as_written_failures"] > 0:
        assert as_written & LOSS_CAUSES, (
            f"the drill lost {summary['as_written_failures']} requests; findings: {as_written}"
        )
    if not after & ROLLOUT_POLICIES:
        assert summary["mutated_failures"] == 0, f"audit passes the mutated spec, the drill lost requests: {summary}"
    else:  # audit still reports the spec (a shallow probe, one replica): the fixes may only have made it better
        assert summary["mutated_failures"] <= summary["as_written_failures"], (summary, after)
