"""Scenario folders run through the CLI (real subprocesses) and through the webhook; both must agree.

tests/scenarios/<name>/resources.yaml: the manifests, as a chart or kustomization would render them.
expected.yaml: per subject (`Kind/namespace/name`), the result of each policy: pass, fail or skip (not
applicable or opted out). patched.yaml: every document as `mutate` and the mutating webhook produce it.
The webhook sees the scenario's ConfigMaps and PDBs as it would see them in the API server.
Set UPDATE_GOLDEN=1 to rewrite expected.yaml and patched.yaml after a deliberate change, then review.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from haproxy_guard.policies.context import Context
from haproxy_guard.policies.haproxy.validator import Validator
from haproxy_guard.policies.model.mounts import MOUNTER_KINDS, configuration_versions
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.workload import inspect_workload
from haproxy_guard.policies.registry import ALL_POLICIES, POLICY_IDS, SKIP_POLICY
from haproxy_guard.webhook.admission import Admission
from haproxy_guard.webhook.app import create_app
from tests.cli.test_audit_command import run
from tests.helpers import ROOT, apply_patch, decoded_patch, review

SCENARIOS = sorted(path for path in (ROOT / "tests" / "scenarios").iterdir() if path.is_dir())
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
_POLICY_TAG = re.compile(r"\[([a-z0-9-]+)\]")

Results = dict[str, dict[str, str]]


def _results(kind: str, failed: set[str], skipped: bool) -> dict[str, str]:
    results = {}
    for policy in ALL_POLICIES:
        if not policy.covers(kind) or (skipped and policy is not SKIP_POLICY):
            results[policy.id] = "skip"
        else:
            results[policy.id] = "fail" if policy.id in failed else "pass"
    return results


def _key(obj: dict[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    return f"{obj['kind']}/{metadata.get('namespace')}/{metadata.get('name')}"


def _is_subject(obj: dict[str, Any]) -> bool:
    if obj["kind"] == "ConfigMap":
        return "haproxy.cfg" in (obj.get("data") or {})
    return any(
        "haproxy" in str(c.get("image"))
        for c in obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
    )


def cli_results(scenario: Path) -> tuple[Results, list[dict[str, Any]]]:
    report = json.loads(run("audit", str(scenario / "resources.yaml"), "--format", "json").stdout)
    documents = list(yaml.safe_load_all((scenario / "resources.yaml").read_text()))
    failed: dict[str, set[str]] = {}
    for finding in report["findings"]:
        failed.setdefault(f"{finding['kind']}/{finding['namespace']}/{finding['name']}", set()).add(finding["policy"])
    results = {}
    for obj in documents:
        if _is_subject(obj):
            key = _key(obj)
            own = failed.get(key, set())
            results[key] = _results(obj["kind"], own, skipped="skip-annotation" in own)
    patched = list(yaml.safe_load_all(run("mutate", str(scenario / "resources.yaml")).stdout))
    return results, patched


def _source(objects: list[dict[str, Any]]) -> Context:
    def configmap(namespace: str | None, name: str) -> dict[str, Any] | None:
        found = [
            o
            for o in objects
            if o["kind"] == "ConfigMap"
            and o["metadata"]["name"] == name
            and o["metadata"].get("namespace") == namespace
        ]
        return found[0] if found else None

    def pdbs(namespace: str | None) -> list[dict[str, Any]]:
        return [
            o for o in objects if o["kind"] == "PodDisruptionBudget" and o["metadata"].get("namespace") == namespace
        ]

    def mounters(namespace: str | None, name: str) -> list[str | None]:
        """As `webhook/stale.py` lists them: the namespace's Deployments, StatefulSets and DaemonSets."""
        workloads = (
            inspect_workload(o, (), namespace)
            for o in objects
            if o["kind"] in MOUNTER_KINDS and o["metadata"].get("namespace") == namespace
        )
        return [v for w in workloads if w is not None for v in configuration_versions(w).get(name, ())]

    return Context(None, configmap, pdbs, mounters=mounters)


def webhook_results(scenario: Path, validator: Validator) -> tuple[Results, list[dict[str, Any]]]:
    documents = list(yaml.safe_load_all((scenario / "resources.yaml").read_text()))
    context = _source(documents)
    admission = Admission(Settings(), Context(validator, context.configmaps, context.pdbs, mounters=context.mounters))
    results, patched = {}, []
    with TestClient(create_app(admission), base_url="https://testserver") as client:
        for obj in documents:
            mutated = client.post("/mutate", json=review(obj)).json()["response"]
            patched.append(apply_patch(obj, decoded_patch(mutated)))
            if not _is_subject(obj):
                continue
            response = client.post("/validate", json=review(obj)).json()["response"]
            texts = [*response.get("warnings", []), response.get("status", {}).get("message", "")]
            failed = {tag for text in texts for tag in _POLICY_TAG.findall(text)} & POLICY_IDS
            results[_key(obj)] = _results(obj["kind"], failed, skipped="skip-annotation" in failed)
    return results, patched


@pytest.fixture(scope="module")
def outcomes(validator: Validator) -> Iterator[dict[Path, tuple[tuple[Results, list[Any]], tuple[Results, list[Any]]]]]:
    yield {scenario: (cli_results(scenario), webhook_results(scenario, validator)) for scenario in SCENARIOS}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_cli_and_webhook_agree_and_match_the_expectation(scenario: Path, outcomes: dict[Path, Any]) -> None:
    (cli, cli_patched), (hook, hook_patched) = outcomes[scenario]
    differing = sorted(
        (key, policy, found, hook.get(key, {}).get(policy))
        for key, results in cli.items()
        for policy, found in results.items()
        if hook.get(key, {}).get(policy) != found
    )
    assert cli == hook, f"the CLI and the webhook disagree (object, policy, CLI, webhook): {differing}"
    assert cli_patched == hook_patched, "mutate and the mutating webhook disagree"
    if UPDATE:
        (scenario / "expected.yaml").write_text(yaml.safe_dump(cli, sort_keys=False))
        (scenario / "patched.yaml").write_text(yaml.safe_dump_all(cli_patched, sort_keys=False))
    assert cli == yaml.safe_load((scenario / "expected.yaml").read_text())
    assert cli_patched == list(yaml.safe_load_all((scenario / "patched.yaml").read_text()))


def test_scenarios_cover_pass_fail_and_skip() -> None:
    seen = {
        value
        for scenario in SCENARIOS
        for results in yaml.safe_load((scenario / "expected.yaml").read_text()).values()
        for value in results.values()
    }
    assert seen == {"pass", "fail", "skip"}
