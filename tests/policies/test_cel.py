"""The CEL export's construction (its verdicts are proven on the real kube-apiserver in
tests/e2e/test_cel_policies.py): settings drive thresholds, severities and actions, the namespaces are the
webhook configurations', image globs become RE2."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import pytest
import yaml

from haproxy_guard.policies.cel import NAMESPACE_SELECTOR, _glob_to_re2, _image_regex, validating_admission_policies
from haproxy_guard.policies.model.findings import Severity
from haproxy_guard.policies.model.images import is_haproxy_image
from haproxy_guard.policies.model.settings import Mode, Settings
from tests.helpers import ROOT


def _by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == kind}


def test_one_policy_and_binding_per_rule_with_the_default_severities() -> None:
    objects = validating_admission_policies(Settings())
    bindings = _by_kind(objects, "ValidatingAdmissionPolicyBinding")
    assert set(_by_kind(objects, "ValidatingAdmissionPolicy")) == set(bindings)
    actions = {name.removeprefix("haproxy-guard-"): b["spec"]["validationActions"] for name, b in bindings.items()}
    assert actions == {
        "prestop-wait": ["Deny"],
        "termination-grace-period": ["Deny"],
        "deployment-recreate": ["Deny"],
        "deployment-rolling-update": ["Warn", "Audit"],
        "readiness-probe": ["Warn", "Audit"],
    }


def test_settings_choose_thresholds_severities_and_mode() -> None:
    custom = Settings(
        pre_stop_seconds=17,
        drain_seconds=40,
        grace_margin_seconds=3,
        policies={"readiness-probe": Severity.OFF, "deployment-rolling-update": Severity.DENY},
    )
    objects = validating_admission_policies(custom)
    policies = _by_kind(objects, "ValidatingAdmissionPolicy")
    assert "haproxy-guard-readiness-probe" not in policies
    assert _by_kind(objects, "ValidatingAdmissionPolicyBinding")["haproxy-guard-deployment-rolling-update"]["spec"][
        "validationActions"
    ] == ["Deny"]
    grace = policies["haproxy-guard-termination-grace-period"]["spec"]["validations"][0]["expression"]
    assert "w > 17 ? w : 17" in grace and "+ 40 + 3" in grace
    audit = validating_admission_policies(Settings(mode=Mode.AUDIT))
    assert {
        b["spec"]["validationActions"][0] for b in _by_kind(audit, "ValidatingAdmissionPolicyBinding").values()
    } == {"Warn"}


def test_the_bindings_select_the_webhook_configurations_namespaces() -> None:
    webhooks = [doc for doc in yaml.safe_load_all((ROOT / "manifests" / "base" / "webhooks.yaml").read_text()) if doc]
    selectors = [hook["namespaceSelector"] for doc in webhooks for hook in doc["webhooks"]]
    assert selectors and all(selector == NAMESPACE_SELECTOR for selector in selectors)


@pytest.mark.parametrize(
    "image",
    [
        "haproxy:2.8", "haproxy", "HAProxy:3.0", "haproxytech/haproxy-alpine:3.0", "bitnami/haproxy:2.8",
        "registry.local:5000/mirror/haproxy@sha256:" + "a" * 64, "localhost/haproxy-debian:2.9",
        "docker.io/library/haproxy:lts", "prom/haproxy-exporter:v0.15", "nginx:1.27", "haproxy-ingress:1",
        "team/my-haproxy:1", "registry:5000/haproxy", "quay.io/x/haproxy-ubuntu:2.8@sha256:" + "b" * 64,
    ],
)  # fmt: skip
def test_the_image_rule_is_the_webhooks(image: str) -> None:
    """Python's `re` is close enough to RE2 for this pattern (no look-arounds, no backreferences)."""
    assert bool(re.search(_image_regex(Settings()), image.lower())) is is_haproxy_image(image)


@pytest.mark.parametrize(
    ("glob", "matching", "other"),
    [("my-*", "my-haproxy", "haproxy-my"), ("edge?", "edge1", "edge12"), ("lb[0-9]", "lb7", "lbx"),
     ("lb[!0-9]", "lbx", "lb7"), ("a.b", "a.b", "axb")],
)  # fmt: skip
def test_globs_become_re2(glob: str, matching: str, other: str) -> None:
    pattern = re.compile(f"^{_glob_to_re2(glob)}$")
    assert pattern.match(matching) and not pattern.match(other)


def test_the_command_prints_the_objects() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "haproxy_guard.cli.main", "export", "--format", "validating-admission-policy"],
        capture_output=True, text=True, cwd=ROOT, check=True,
    ).stdout  # fmt: skip
    assert list(yaml.safe_load_all(printed)) == validating_admission_policies(Settings())
