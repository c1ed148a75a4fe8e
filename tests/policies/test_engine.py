"""The engine as a whole: what it leaves alone, opt-outs, modes, severities and its purity."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from haproxy_guard.policies import engine
from haproxy_guard.policies.model.findings import Severity
from haproxy_guard.policies.model.settings import Mode, Settings
from tests.helpers import GOLDEN, assert_valid_kubernetes, golden_id, golden_inputs, load_yaml

DEFAULT_DEPLOYMENT = GOLDEN / "prestop-wait" / "missing-exec" / "input.yaml"


def _deployment() -> dict[str, Any]:
    obj: dict[str, Any] = load_yaml(DEFAULT_DEPLOYMENT)
    return obj


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}, id="service"),
        pytest.param({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}, id="secret"),
        pytest.param(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web"},
                "spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}},
            },
            id="nginx-deployment",
        ),
        pytest.param(
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "spec": {"template": {"spec": {"containers": [{"image": "haproxy"}]}}},
            },
            id="haproxy-job-not-a-supported-kind",
        ),
        pytest.param(
            {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": {"containers": "haproxy"}}}},
            id="malformed-containers",
        ),
        pytest.param(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "spec": {
                    "template": {"spec": {"initContainers": [{"name": "i", "image": "haproxy"}], "containers": []}}
                },
            },
            id="haproxy-only-as-init-container",
        ),
    ],
)
def test_objects_that_are_not_haproxy_workloads_are_untouched(obj: dict[str, Any]) -> None:
    before = copy.deepcopy(obj)
    assert engine.check(obj, Settings()).findings == ()
    mutation = engine.mutate(obj, Settings())
    assert mutation.mutated is obj
    assert mutation.patch == []
    assert obj == before


def test_skip_annotation_stops_every_policy_and_is_reported() -> None:
    obj = _deployment()
    obj["metadata"]["annotations"] = {"haproxy-guard.io/skip": "true"}
    evaluation = engine.check(obj, Settings())
    assert [f.policy for f in evaluation.findings] == ["skip-annotation"]
    assert evaluation.skipped
    mutation = engine.mutate(obj, Settings())
    assert mutation.patch == [] and [f.policy for f in mutation.findings] == ["skip-annotation"]


def test_skip_can_be_forbidden_or_silenced() -> None:
    obj = _deployment()
    obj["metadata"]["annotations"] = {"haproxy-guard.io/skip": "TRUE"}
    denied = engine.check(obj, Settings(policies={"skip-annotation": Severity.DENY}))
    assert [f.severity for f in denied.findings] == [Severity.DENY]
    assert engine.check(obj, Settings(policies={"skip-annotation": Severity.OFF})).findings == ()


def test_audit_mode_turns_denials_into_warnings() -> None:
    enforce = engine.check(_deployment(), Settings())
    audit = engine.check(_deployment(), Settings(mode=Mode.AUDIT))
    assert enforce.denied
    assert not audit.denied
    assert [f.message for f in audit.warned] == [f.message for f in enforce.findings]


def test_policy_off_disables_its_check_and_fix() -> None:
    settings = Settings(policies={"prestop-wait": Severity.OFF})
    assert "prestop-wait" not in {f.policy for f in engine.check(_deployment(), settings).findings}
    mutated = engine.mutate(_deployment(), settings).mutated
    assert "lifecycle" not in mutated["spec"]["template"]["spec"]["containers"][0]


def test_severity_override_changes_only_the_severity() -> None:
    settings = Settings(policies={"readiness-probe": Severity.DENY})
    findings = engine.check(_deployment(), settings).findings
    assert {f.severity for f in findings if f.policy == "readiness-probe"} == {Severity.DENY}


def test_pods_are_fixed_on_create_but_never_on_update() -> None:
    pod = load_yaml(GOLDEN / "prestop-wait" / "pod" / "input.yaml")
    assert engine.mutate(pod, Settings(), operation="CREATE").changed_by
    assert engine.mutate(pod, Settings(), operation="UPDATE").patch == []
    assert engine.check(pod, Settings()).denied, "the finding is still reported on update"


def test_findings_name_the_object() -> None:
    obj = _deployment()
    del obj["metadata"]["namespace"]
    finding = engine.check(obj, Settings(), namespace="from-request").findings[0]
    assert (finding.kind, finding.namespace, finding.name) == ("Deployment", "from-request", "edge")


def test_native_sleep_needs_kubernetes_1_30() -> None:
    def pre_stop(version: str | None) -> dict[str, Any]:
        mutated = engine.mutate(_deployment(), Settings(kubernetes_version=version)).mutated
        result: dict[str, Any] = mutated["spec"]["template"]["spec"]["containers"][0]["lifecycle"]["preStop"]
        return result

    assert "exec" in pre_stop(None)
    assert "exec" in pre_stop("v1.29.9")
    assert pre_stop("v1.30.0-gke.1") == {"sleep": {"seconds": 10}}


@pytest.mark.parametrize("version", [None, "1.31"])
@pytest.mark.parametrize("input_path", golden_inputs(), ids=golden_id)
def test_all_policies_together_give_valid_idempotent_objects(input_path: Path, version: str | None) -> None:
    settings = Settings(kubernetes_version=version)
    obj = load_yaml(input_path)
    mutation = engine.mutate(obj, settings)
    assert obj == load_yaml(input_path), "mutation must leave the original untouched"
    assert_valid_kubernetes(mutation.mutated)
    assert engine.mutate(mutation.mutated, settings).patch == []
    before = set(engine.check(obj, settings).findings)
    after = set(engine.check(mutation.mutated, settings).findings)
    assert after <= before, f"mutation introduced findings: {after - before}"
    assert (after < before) == bool(mutation.changed_by), "every change fixes a finding, and only then"
