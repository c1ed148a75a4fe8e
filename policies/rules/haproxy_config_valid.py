"""Policy `haproxy-config-valid`: the configuration passes the real `haproxy -c` of the pods' version.

On a ConfigMap: checked with the version in `haproxy-guard.io/haproxy-version`, else the default
validator. On a workload: each mounted HAProxy ConfigMap with the version of the container's image tag,
with the other keys at their real mount paths and the container's environment.
"""

from __future__ import annotations

import re

from haproxy_guard.policies.haproxy.validator import MAINTAINED_BRANCHES
from haproxy_guard.policies.model.configmap import CONFIG_KEY, CONFIG_LABEL, ConfigSubject
from haproxy_guard.policies.model.findings import Severity, Violation
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.workload import Workload
from haproxy_guard.policies.policy import ALL_WORKLOAD_KINDS, Policy

POLICY_ID = "haproxy-config-valid"
ADVISORY_PREFIXES = ("not checked: ", "not fully checked: ", "not valid for HAProxy ")
"""Validator warnings that say what could not be checked at admission: reported as warnings, never denied
(HAProxy's own warnings, such as a missing `timeout`, are other policies' concern)."""


def _violations(subject: ConfigSubject, path: str | None, prefix: str = "") -> list[Violation]:
    if not subject.configmap.config_keys:
        return [
            Violation(
                f"{prefix}labelled {CONFIG_LABEL}=true but has no *.cfg key (nor {CONFIG_KEY}): no configuration to check",
                path,
            )
        ]
    result = subject.validation
    if result is None:
        return [Violation(f"{prefix}not validated: no HAProxy validator binary is available", path)]
    checked = (
        f" (checked with HAProxy {result.version})" if subject.version and subject.version != result.version else ""
    )
    advisories = [
        Violation(f"{prefix}{message}{checked}", path, advisory=True)
        for message in result.warnings
        if message.text.startswith(ADVISORY_PREFIXES)
    ]
    if result.valid:
        return advisories
    if _end_of_life(subject.version):
        # pods of a branch older than every validator: the oldest judged them, and newer branches removed
        # options older ones accept, so what it refuses is reported, never denied
        return [
            Violation(
                f"{prefix}{message} (HAProxy {result.version} refuses it; the pods run {subject.version})",
                path,
                advisory=True,
            )
            for message in result.errors
        ] + advisories
    return [Violation(f"{prefix}{message}{checked}", path) for message in result.errors] + advisories


def _end_of_life(version: str | None) -> bool:
    """A branch older than every maintained one (2.0-2.4)."""
    if version is None or not re.match(r"^\d+\.\d+$", version):
        return False
    oldest = tuple(int(part) for part in MAINTAINED_BRANCHES[0].split("."))
    return tuple(int(part) for part in version.split(".")) < oldest


def check_configmap(subject: ConfigSubject, settings: Settings) -> list[Violation]:
    return _violations(subject, subject.configmap.pointer)


def check(workload: Workload, settings: Settings) -> list[Violation]:
    violations = []
    for mounted in workload.configs:
        prefix = f"ConfigMap {mounted.configmap.name} as container {mounted.mount.container.name} runs it: "
        violations.extend(_violations(mounted.subject, f"{mounted.mount.container.pointer}/volumeMounts", prefix))
    return violations


POLICY: Policy = Policy(
    id=POLICY_ID,
    summary="The HAProxy configuration passes `haproxy -c` of the pods' HAProxy version (sandboxed)",
    default_severity=Severity.DENY,
    kinds=ALL_WORKLOAD_KINDS,
    check=check,
    fix=None,
    reason="An invalid configuration crash-loops every pod that loads it; HAProxy versions accept different keywords",
    check_configmap=check_configmap,
)
