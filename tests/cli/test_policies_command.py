"""`haproxy-guard policies` and `haproxy-guard explain POLICY-ID`: the registry and each policy's documentation
(`policies/docs/<id>.md`), which the site's policy pages and every finding's help link share."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from haproxy_guard.policies.documentation import page, read
from haproxy_guard.policies.registry import ALL_POLICIES
from tests.helpers import ROOT


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "haproxy_guard.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_policies_lists_every_policy_with_its_default_severity_in_order() -> None:
    result = run("policies")
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()[1 : len(ALL_POLICIES) + 1]]
    assert [(row[0], row[1]) for row in rows] == [(p.id, str(p.default_severity)) for p in ALL_POLICIES]
    for policy, line in zip(ALL_POLICIES, result.stdout.splitlines()[1:], strict=False):
        assert line.endswith(policy.summary)


@pytest.mark.parametrize("policy", ALL_POLICIES, ids=lambda policy: policy.id)
def test_explain_prints_the_policys_facts_documentation_and_page(policy: object) -> None:
    from haproxy_guard.policies.policy import Policy

    assert isinstance(policy, Policy)
    result = run("explain", policy.id)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith(f"{policy.id}: {policy.summary}\n")
    assert f"Default severity: {policy.default_severity}" in out
    assert f"policies: {{{policy.id}: deny | warn | off}}" in out
    for section in ("## What it checks", "## Why", "## The fix"):
        assert section in out
    assert out.rstrip().endswith(page(policy.id))


def test_explain_of_an_unknown_id_is_exit_2_with_the_nearest_ids() -> None:
    result = run("explain", "prestop-wiat")
    assert result.returncode == 2 and result.stdout == ""
    assert "no policy 'prestop-wiat'; did you mean prestop-wait?" in result.stderr
    assert run("explain", "nothing-like-it").stderr.count("did you mean") == 0


@pytest.mark.parametrize("policy", ALL_POLICIES, ids=lambda policy: policy.id)
def test_every_policy_documents_an_example_the_golden_tests_run(policy: object) -> None:
    """The example a policy's page shows is a golden case (run by tests/policies/test_golden.py) with findings."""
    from haproxy_guard.policies.policy import Policy

    assert isinstance(policy, Policy)
    case = ROOT / "tests" / "golden" / policy.id / read(policy.id).example
    assert (case / "input.yaml").is_file(), case
    assert yaml.safe_load((case / "findings.yaml").read_text()), f"{case}: the example shows no finding"


def test_no_documentation_file_without_a_policy() -> None:
    files = {path.stem for path in (ROOT / "policies" / "docs").glob("*.md")}
    assert files == {policy.id for policy in ALL_POLICIES}


def test_sarif_rules_link_each_policys_page() -> None:
    log = json.loads(run("audit", "examples", "--format", "sarif").stdout)
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert {rule["id"]: rule["helpUri"] for rule in rules} == {p.id: page(p.id) for p in ALL_POLICIES}


def test_text_output_says_where_policies_are_explained() -> None:
    lines = run("audit", "examples").stdout.splitlines()
    assert lines[-2].startswith("about a policy: haproxy-guard explain POLICY-ID, or https://")
    assert "explain" not in run("audit", "tests/golden/haproxy-maxconn/set/input.yaml").stdout


def test_explain_names_the_settings_that_tune_a_policy() -> None:
    from haproxy_guard.policies.model.settings import Settings

    out = run("explain", "termination-grace-period").stdout
    assert "Tuned by:         preStopSeconds, drainSeconds, graceMarginSeconds" in out
    fields = {info.alias or name for name, info in Settings.model_fields.items()}
    for policy in ALL_POLICIES:
        for key in read(policy.id).settings:
            assert key.split(".")[0] in fields, (policy.id, key)
