"""From documents to what the drill runs, without starting anything: both specs from the same engine as
`mutate`, the configuration as the validator renders it, the notes that say what the drill reads
differently from the spec, and the branch chosen."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from haproxy_guard.cli.manifests import Document, load
from haproxy_guard.drill.prepare import DrillError, prepare
from haproxy_guard.policies.haproxy.validator import Validator, discover_binaries
from haproxy_guard.policies.model.settings import Settings
from tests.helpers import ROOT

VALIDATOR = Validator(discover_binaries())
EXAMPLES = load([str(ROOT / "examples")])


def _with(change: Any) -> list[Document]:
    documents = [Document(d.file, d.index, copy.deepcopy(d.obj)) for d in EXAMPLES]
    for document in documents:
        if document.obj["kind"] == "Deployment":
            change(document.obj)
    return documents


def test_the_example_as_written_and_mutated(tmp_path: Path) -> None:
    (target,) = prepare(EXAMPLES, Settings(), VALIDATOR, tmp_path)
    written, mutated = target.specs
    assert target.title == "Deployment edge/edge-haproxy"
    assert (written.plan.pre_stop.kind, mutated.plan.pre_stop.seconds) == ("none", 10)
    assert (written.plan.readiness.kind, mutated.plan.readiness.kind, mutated.plan.readiness.path) == (
        "tcp",
        "http",
        "/ready",
    )
    assert written.version == mutated.version == "2.8"
    assert written.traffic_port == 8080 and written.layout.container_ports == [8080, 8405]
    assert mutated.advice == [], "the example's configuration already has what the advice adds"
    assert "/usr/local/etc/haproxy" not in written.configs[0], "rendered as the validator renders it"


def test_a_branch_can_be_chosen(tmp_path: Path) -> None:
    version = sorted(VALIDATOR.binaries)[0]
    (target,) = prepare(EXAMPLES, Settings(), VALIDATOR, tmp_path, version)
    assert {spec.version for spec in target.specs} == {version}


def test_notes_say_what_is_read_differently(tmp_path: Path) -> None:
    def change(obj: dict[str, Any]) -> None:
        spec = obj["spec"]
        spec["strategy"] = {"type": "Recreate"}
        spec["replicas"] = 9
        container = spec["template"]["spec"]["containers"][0]
        container["readinessProbe"] = {"exec": {"command": ["/ready.sh"]}}
        spec["template"]["spec"]["containers"].append({**copy.deepcopy(container), "name": "second"})

    (target,) = prepare(_with(change), Settings(), VALIDATOR, tmp_path)
    notes = " | ".join(target.specs[0].notes)
    assert "9 replicas drilled as 4" in notes
    assert "2 HAProxy containers: container haproxy is drilled" in notes
    assert "exec readiness probe cannot run here" in notes
    assert any("still denied after mutate: [deployment-recreate]" in note for note in target.specs[1].notes)


def test_no_workload_and_a_missing_configmap_are_errors(tmp_path: Path) -> None:
    configmaps = [d for d in EXAMPLES if d.obj["kind"] == "ConfigMap"]
    with pytest.raises(DrillError, match="no HAProxy workload"):
        prepare(configmaps, Settings(), VALIDATOR, tmp_path)
    deployments = [d for d in EXAMPLES if d.obj["kind"] == "Deployment"]
    with pytest.raises(DrillError, match="mounts ConfigMap edge-haproxy, which is not in the input"):
        prepare(deployments, Settings(), VALIDATOR, tmp_path)


def test_code_loading_configurations_are_refused_before_anything_runs(tmp_path: Path) -> None:
    documents = [Document(d.file, d.index, copy.deepcopy(d.obj)) for d in EXAMPLES]
    for document in documents:
        if document.obj["kind"] == "ConfigMap" and "data" in document.obj:
            document.obj["data"]["haproxy.cfg"] = (
                "global\n    lua-load /etc/haproxy/x.lua\n" + document.obj["data"]["haproxy.cfg"]
            )
    with pytest.raises(DrillError, match=r"does not validate: .*lua-load is refused"):
        prepare(documents, Settings(), VALIDATOR, tmp_path)
