"""Policy `config-hash`: the pod template carries a digest of the HAProxy ConfigMaps the pods mount.

The kubelet refreshes mounted ConfigMaps asynchronously and HAProxy never re-reads them by itself, so a
configuration change would reach pods at random times, or never. A digest in the template makes every
change a rollout (with this project's safe rollout settings).

A workload that already rolls on a change needs none: a Helm chart's own digest annotation on the pod
template (`checksum/config` and friends, the Helm documentation's idiom) or a reloader's annotation
(Stakater Reloader's `reloader.stakater.com/auto`, `configmap.reloader.stakater.com/reload`). Controllers that
write their configuration themselves mount none that counts (`mounts.config_mounts`).
"""

from __future__ import annotations

import hashlib

from haproxy_guard.policies.model.findings import Severity, Violation, json_pointer
from haproxy_guard.policies.model.objects import ANNOTATION_PREFIX
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.workload import Workload
from haproxy_guard.policies.policy import CONTROLLER_KINDS, Policy

POLICY_ID = "config-hash"
CONFIG_HASH_ANNOTATION = ANNOTATION_PREFIX + "config-hash"
_POINTER = json_pointer("spec", "template", "metadata", "annotations", CONFIG_HASH_ANNOTATION)


PREFIX = "sha256:"
LEGACY_HEX_DIGITS = 32
"""Versions before the whole digest wrote only its first 32 hex digits; such a value still counts as current
when it is the start of the expected digest, so an upgrade rolls no workload by itself."""


def expected_hash(workload: Workload) -> str | None:
    """`sha256:` and the whole SHA-256 (64 hex digits) over the mounted HAProxy ConfigMaps (each one's name and
    content digest), or None when one is unavailable."""
    if workload.unavailable_configs or not workload.configs:
        return None
    hasher = hashlib.sha256()
    for name, digest in sorted({(m.configmap.name, m.configmap.digest()) for m in workload.configs}):
        hasher.update(f"{name}={digest}\n".encode())  # names are DNS subdomains: no `=`, no newline
    return PREFIX + hasher.hexdigest()


def is_current(value: object, expected: str) -> bool:
    """Whether an annotation's value stands for the `expected` digest (the whole one, or a legacy prefix)."""
    return value == expected or value == expected[: len(PREFIX) + LEGACY_HEX_DIGITS]


def current_hash(template: object) -> object:
    """The annotation's value on a pod template (None when absent)."""
    metadata = template.get("metadata") if isinstance(template, dict) else None
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    return annotations.get(CONFIG_HASH_ANNOTATION) if isinstance(annotations, dict) else None


def _current(workload: Workload) -> object:
    return current_hash(workload.spec.get("template"))


_RELOADERS = ("reloader.stakater.com/auto", "configmap.reloader.stakater.com/reload", "reloader.stakater.com/search")


def rolls_on_change(workload: Workload) -> bool:
    """Whether something else already rolls the pods when the configuration changes: a `checksum/...`
    annotation on the pod template (a chart's digest of its ConfigMap) or a reloader's annotation."""
    metadata = workload.spec.get("template", {}).get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    if isinstance(annotations, dict) and any(
        isinstance(key, str) and (key.startswith("checksum/") or key.split("/", 1)[-1].startswith("checksum"))
        for key in annotations
    ):
        return True
    return any(key in workload.annotations for key in _RELOADERS)


def check(workload: Workload, settings: Settings) -> list[Violation]:
    expected = expected_hash(workload)
    if expected is None or is_current(_current(workload), expected) or rolls_on_change(workload):
        return []
    return [
        Violation(
            f"pod template annotation {CONFIG_HASH_ANNOTATION} is not {expected}: a change of the HAProxy "
            "ConfigMap would not roll the pods",
            _POINTER,
        )
    ]


def fix(workload: Workload, settings: Settings) -> bool:
    expected = expected_hash(workload)
    if expected is None or is_current(_current(workload), expected) or rolls_on_change(workload):
        return False
    template = workload.spec["template"]
    metadata = template.setdefault("metadata", {})
    metadata.setdefault("annotations", {})[CONFIG_HASH_ANNOTATION] = expected
    return True


POLICY: Policy = Policy(
    id=POLICY_ID,
    summary="Pod template annotation haproxy-guard.io/config-hash = digest of the mounted HAProxy ConfigMaps",
    default_severity=Severity.WARN,
    kinds=CONTROLLER_KINDS,
    check=check,
    fix=fix,
    reason="Mounted ConfigMaps change under running pods asynchronously; a digest makes each change a rollout",
)
