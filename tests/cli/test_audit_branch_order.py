"""The file audit checks a ConfigMap alone with the branch of the workloads that mount it first, as the webhook
does with the workloads it lists (`Context.mounters`), and then one `haproxy -c` run answers both the
workload's check and the ConfigMap's when they render the same."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from haproxy_guard.cli.audit import InputIndex, audit
from haproxy_guard.cli.manifests import Document
from haproxy_guard.policies.haproxy.validator import Validator
from haproxy_guard.policies.model.configmap import inspect_configmap
from haproxy_guard.policies.model.mounts import preferred_branch
from haproxy_guard.policies.model.settings import Settings
from tests.haproxy.test_preferred_branch import BASE, NEWER_ONLY
from tests.helpers import ROOT, load_yaml

CONFIGMAP = next(iter(yaml.safe_load_all((ROOT / "examples" / "haproxy-configmap.yaml").read_text())))
DEPLOYMENT = load_yaml(ROOT / "examples" / "haproxy-deployment.yaml")


def _deployment(name: str, image: str, kind: str = "Deployment") -> dict[str, Any]:
    obj: dict[str, Any] = copy.deepcopy(DEPLOYMENT)
    obj["kind"] = kind
    obj["metadata"]["name"] = name
    obj["spec"]["template"]["spec"]["containers"][0]["image"] = image
    return obj


def _configmap(text: str | None = None, namespace: str | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = copy.deepcopy(CONFIGMAP)
    if text is not None:
        obj["data"]["haproxy.cfg"] = text
    if namespace is not None:
        obj["metadata"]["namespace"] = namespace
    return obj


def _config_findings(objects: list[dict[str, Any]], validator: Validator) -> list[str]:
    documents = [Document("input.yaml", i, obj) for i, obj in enumerate(objects)]
    results = audit(documents, Settings(), validator)
    (configmap,) = [result for result in results if result.document.obj["kind"] == "ConfigMap"]
    return [finding.message for finding in configmap.findings if finding.policy == "haproxy-config-valid"]


def test_a_configmap_names_its_pods_branch_refusing_it(validator: Validator) -> None:
    alone = _config_findings([_configmap(NEWER_ONLY)], validator)
    assert alone == [], "2.8 (the default) accepts it, and nothing says which branch runs it"
    mounted = _config_findings([_configmap(NEWER_ONLY), _deployment("edge", "haproxy:2.6-alpine")], validator)
    assert len(mounted) == 1 and "not valid for HAProxy 2.6" in mounted[0] and "bwlim-out" in mounted[0]
    before = _config_findings([_deployment("edge", "haproxy:2.6"), _configmap(NEWER_ONLY)], validator)
    assert before == mounted, "a workload read before its ConfigMap counts the same"


@pytest.mark.parametrize(
    "others",
    [
        [_deployment("new", "haproxy:2.8")],  # the workloads disagree: no branch is the pods'
        [_deployment("digest", "haproxy@sha256:" + "0" * 64)],  # a tag that names no branch
    ],
    ids=["branches-disagree", "unknown-tag"],
)
def test_no_single_branch_keeps_the_default_order(validator: Validator, others: list[dict[str, Any]]) -> None:
    objects = [_configmap(NEWER_ONLY), _deployment("edge", "haproxy:2.6"), *others]
    assert _config_findings(objects, validator) == []


def test_only_workloads_of_its_namespace_count() -> None:
    index = InputIndex()
    for obj in (_configmap(), _deployment("a", "haproxy:2.6"), _deployment("b", "haproxy:2.8")):
        index.add(obj)
    other = copy.deepcopy(_deployment("c", "haproxy:3.0"))
    other["metadata"]["namespace"] = "elsewhere"
    index.add(other)
    pod = _deployment("d", "haproxy:3.2", kind="Pod")
    index.add(pod)
    assert sorted(v or "" for v in index.mounters("edge", "edge-haproxy")) == ["2.6", "2.8"]
    assert index.mounters("elsewhere", "edge-haproxy") == ["3.0"]
    assert index.mounters("edge", "other-config") == []
    configmap = inspect_configmap(_configmap(namespace="elsewhere"), "elsewhere")
    assert configmap is not None and preferred_branch(configmap, index.mounters) == "3.0"
    declared = _configmap(namespace="elsewhere")
    declared["metadata"]["annotations"] = {"haproxy-guard.io/haproxy-version": "2.6"}
    named = inspect_configmap(declared, "elsewhere")
    assert named is not None and preferred_branch(named, index.mounters) is None, "its annotation decides"
    assert preferred_branch(configmap, None) is None


def test_one_run_answers_the_workload_and_its_configmap() -> None:
    """The corpus's shape: a ConfigMap and the Deployment that mounts it. Without the order, the ConfigMap
    alone is checked with the default branch as well: two runs instead of one."""
    from haproxy_guard.policies.haproxy.validator import discover_binaries

    validator = Validator(discover_binaries(), default_version="2.8")
    documents = [
        Document("input.yaml", 0, _configmap(BASE.replace("maxconn 100", "maxconn 101"))),
        Document("input.yaml", 1, _deployment("edge", "haproxy:2.6")),
    ]
    audit(documents, Settings(), validator)
    assert validator.stats["runs"] - validator.stats["rendered_hits"] == 1, validator.stats
