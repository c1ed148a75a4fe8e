"""Golden files per policy: tests/golden/<policy-id>/<case>/{input,findings,mutated}.yaml (+ settings.yaml).

Each case runs the one policy alone through the engine, with the real validator; `configmaps.yaml` (when
present) lists the ConfigMaps the workload's config source can read, and `pdbs.yaml` (when present) the
PodDisruptionBudgets around it. Set UPDATE_GOLDEN=1 to rewrite the expected files
after a deliberate change, then review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from haproxy_guard.policies import engine
from haproxy_guard.policies.haproxy.validator import Validator
from haproxy_guard.policies.registry import ALL_POLICIES, SKIP_POLICY, policy_by_id
from haproxy_guard.policies.settings_file import parse_settings
from tests.helpers import golden_context, golden_id, golden_inputs, load_yaml

UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def _expect(path: Path, actual: Any) -> None:
    if UPDATE:
        path.write_text(yaml.safe_dump(actual, sort_keys=False, width=200), encoding="utf-8")
    assert path.exists(), f"missing golden file {path} (run with UPDATE_GOLDEN=1 and review)"
    assert actual == load_yaml(path), f"{path} differs"


@pytest.mark.parametrize("input_path", golden_inputs(), ids=golden_id)
def test_policy_golden_case(input_path: Path, validator: Validator) -> None:
    case = input_path.parent
    context = golden_context(case, validator)
    policy = policy_by_id(case.parent.name)
    settings_path = case / "settings.yaml"
    settings = parse_settings(load_yaml(settings_path) if settings_path.exists() else {}, str(settings_path))
    policies = () if policy is SKIP_POLICY else (policy,)
    obj = load_yaml(input_path)

    evaluation = engine.check(obj, settings, policies=policies, context=context)
    assert evaluation.subject is not None, "golden inputs are HAProxy workloads or ConfigMaps"
    findings = [{"severity": str(f.severity), "path": f.path, "message": f.message} for f in evaluation.findings]
    assert all(f.policy == policy.id for f in evaluation.findings)
    _expect(case / "findings.yaml", findings)

    mutation = engine.mutate(obj, settings, policies=policies, context=context)
    _expect(case / "mutated.yaml", mutation.mutated)
    assert obj == load_yaml(input_path), "the engine must not modify its input"
    assert (mutation.mutated != obj) == bool(mutation.changed_by)

    again = engine.mutate(mutation.mutated, settings, policies=policies, context=context)
    assert again.changed_by == (), "a second pass must change nothing"
    if policy.fix is not None:
        remaining = engine.check(mutation.mutated, settings, policies=policies, context=context).findings
        fixed = {f.path for f in remaining}
        assert len(remaining) <= len(evaluation.findings), f"the fix added findings: {fixed}"


def test_every_policy_has_failing_and_passing_golden_cases() -> None:
    for policy in ALL_POLICIES:
        cases = [path.parent for path in golden_inputs() if path.parent.parent.name == policy.id]
        outcomes = {bool(load_yaml(case / "findings.yaml")) for case in cases}
        assert outcomes == {True, False}, f"{policy.id} needs a failing and a passing golden case"
