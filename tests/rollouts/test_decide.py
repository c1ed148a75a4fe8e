"""The rollout controller's decision on one workload, by the engine: roll to the config-hash fix's own digest
when the mounted configuration changed; nothing when it is current (a legacy prefix included), opted out, or
never managed; blocked when the webhook would deny the configuration, in audit mode too; and a workload
written before its ConfigMaps gets its digest."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from haproxy_guard.policies import engine
from haproxy_guard.policies.context import Context
from haproxy_guard.policies.haproxy.validator import Validator
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.rules.config_hash import CONFIG_HASH_ANNOTATION, current_hash
from haproxy_guard.webhook.rollouts.decide import Action, decide
from tests.helpers import GOLDEN, ROOT, load_yaml

DEPLOYMENT = load_yaml(ROOT / "examples" / "haproxy-deployment.yaml")
CONFIGMAP = next(
    doc
    for doc in yaml.safe_load_all((ROOT / "examples" / "haproxy-configmap.yaml").read_text())
    if doc["kind"] == "ConfigMap"
)
BROKEN = load_yaml(GOLDEN / "haproxy-config-valid" / "typo-configmap" / "input.yaml")["data"]["haproxy.cfg"]


def _configmap(text: str | None = None, created: str = "2026-01-01T00:00:10Z") -> dict[str, Any]:
    configmap: dict[str, Any] = copy.deepcopy(CONFIGMAP)
    if text is not None:
        configmap["data"]["haproxy.cfg"] = text
    configmap["metadata"]["creationTimestamp"] = created
    return configmap


def _context(validator: Validator, configmap: dict[str, Any]) -> Context:
    return Context(validator, lambda namespace, name: configmap if name == configmap["metadata"]["name"] else None)


def _stored(validator: Validator, configmap: dict[str, Any]) -> dict[str, Any]:
    """The Deployment as the webhook stored it with `configmap` (created at 00:00:00)."""
    stored = engine.mutate(DEPLOYMENT, Settings(), namespace="edge", context=_context(validator, configmap)).mutated
    stored["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    return stored


@pytest.fixture(scope="module")
def changed() -> dict[str, Any]:
    return _configmap(CONFIGMAP["data"]["haproxy.cfg"].replace("maxconn 4000", "maxconn 5000"))


def test_a_changed_configuration_rolls_to_the_fixs_own_digest(validator: Validator, changed: dict[str, Any]) -> None:
    stored = _stored(validator, _configmap())
    decision = decide(stored, Settings(), _context(validator, changed))
    assert decision.action is Action.ROLL
    expected = _stored(validator, changed)
    assert decision.new_hash == current_hash(expected["spec"]["template"]) != decision.old_hash
    path = "/spec/template/metadata/annotations/" + CONFIG_HASH_ANNOTATION.replace("/", "~1")
    assert decision.patch == ({"op": "replace", "path": path, "value": decision.new_hash},)


def test_an_unchanged_configuration_rolls_nothing(validator: Validator) -> None:
    stored = _stored(validator, _configmap())
    assert decide(stored, Settings(), _context(validator, _configmap())).action is Action.NONE
    legacy = copy.deepcopy(stored)
    annotations = legacy["spec"]["template"]["metadata"]["annotations"]
    annotations[CONFIG_HASH_ANNOTATION] = annotations[CONFIG_HASH_ANNOTATION][: len("sha256:") + 32]
    assert decide(legacy, Settings(), _context(validator, _configmap())).action is Action.NONE


@pytest.mark.parametrize("mode", ["enforce", "audit"])
def test_a_configuration_the_webhook_would_deny_is_never_rolled(validator: Validator, mode: str) -> None:
    stored = _stored(validator, _configmap())
    decision = decide(stored, Settings.model_validate({"mode": mode}), _context(validator, _configmap(BROKEN)))
    assert decision.action is Action.BLOCKED and decision.patch == ()
    assert "[haproxy-config-valid]" in decision.reason and "haproxy.cfg:" in decision.reason


def test_opted_out_workloads_are_left_alone(validator: Validator, changed: dict[str, Any]) -> None:
    stored = _stored(validator, _configmap())
    skipped = copy.deepcopy(stored)
    skipped["metadata"]["annotations"]["haproxy-guard.io/skip"] = "true"
    assert decide(skipped, Settings(), _context(validator, changed)).action is Action.NONE
    off = Settings.model_validate({"policies": {"config-hash": "off"}})
    assert decide(stored, off, _context(validator, changed)).action is Action.NONE
    checksum = copy.deepcopy(stored)
    checksum["spec"]["template"]["metadata"]["annotations"]["checksum/config"] = "abc"
    assert decide(checksum, Settings(), _context(validator, changed)).action is Action.NONE


def test_a_workload_without_a_digest_gets_one_only_when_its_configmap_came_later(validator: Validator) -> None:
    bare = copy.deepcopy(DEPLOYMENT)
    bare["metadata"]["creationTimestamp"] = "2026-01-01T00:00:05Z"
    later, earlier = _configmap(created="2026-01-01T00:00:06Z"), _configmap(created="2026-01-01T00:00:04Z")
    assert decide(bare, Settings(), _context(validator, later)).action is Action.ROLL
    assert decide(bare, Settings(), _context(validator, earlier)).action is Action.NONE, (
        "a workload that never had a digest although its ConfigMap existed is not ours to roll"
    )


def test_a_missing_configmap_rolls_nothing(validator: Validator) -> None:
    stored = _stored(validator, _configmap())
    assert decide(stored, Settings(), Context(validator, lambda namespace, name: None)).action is Action.NONE
