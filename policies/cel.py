"""The core rules as Kubernetes ValidatingAdmissionPolicies (CEL), enforced by the API server with no webhook.

`validating_admission_policies(settings)` gives, for each rule CEL can express, one
`ValidatingAdmissionPolicy` and its `ValidatingAdmissionPolicyBinding` (admissionregistration.k8s.io/v1,
Kubernetes 1.30+), with the thresholds and severities of `settings`: a deny-level policy binds with `Deny`,
a warn-level one with `Warn` + `Audit`, an `off` one is left out, `mode: audit` makes every binding
`Warn` + `Audit`. The rules, and how each differs from the engine's policy of the same id:

- `prestop-wait`: every HAProxy container waits at least `preStopSeconds` in preStop (the native `sleep`
  action, `exec: [sleep, N]`, or a shell running `sleep N` first; another handler is not judged, as in the
  engine). Same verdict as the engine.
- `termination-grace-period`: `terminationGracePeriodSeconds` (30 when unset) >= the longest preStop wait (at
  least `preStopSeconds`) + `drainSeconds` + `graceMarginSeconds`. The engine takes the drain from the mounted
  configuration's `hard-stop-after` when it sets one; CEL cannot read ConfigMaps, so it always uses
  `drainSeconds` (stricter than the webhook when `hard-stop-after` is shorter, laxer when it is longer).
- `deployment-recreate`: a Deployment's strategy is not `Recreate`. Same verdict.
- `deployment-rolling-update`: a RollingUpdate Deployment has `maxUnavailable` 0 (`0`, `"0"` or `"0%"`; the API
  server's default is 25%). The engine also asks for `maxSurge` >= 1 and `minReadySeconds`; those are not
  exported (the policy's other checks stay with the webhook).
- `readiness-probe`: every HAProxy container has a readiness probe that is not `tcpSocket`. The engine also
  reports a `haproxy-guard.io/health-port` annotation naming a port no HAProxy container declares; not
  exported.

HAProxy containers are found as the webhook finds them: the containers listed in `haproxy-guard.io/containers`,
and those whose image's last path segment is `haproxy`, `haproxy-alpine`, `haproxy-debian` or
`haproxy-ubuntu` (any registry, tag or digest). Extra `imagePatterns` globs are matched against that last
segment only (the webhook also tries the whole repository path). `haproxy-guard.io/skip: "true"` exempts the
object (a match condition; the webhook's skip warning has no CEL equivalent). The bindings select the
namespaces the webhook configurations select (`NAMESPACE_SELECTOR`). The webhook stays needed for
mutation, `haproxy -c`, and every config-aware policy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from haproxy_guard.policies.model.findings import Severity
from haproxy_guard.policies.model.images import HAPROXY_IMAGE_NAMES
from haproxy_guard.policies.model.lifecycle import KUBERNETES_DEFAULT_GRACE_SECONDS
from haproxy_guard.policies.model.objects import CONTAINERS_ANNOTATION, MIRROR_ANNOTATION, SKIP_ANNOTATION
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.registry import ALL_POLICIES

API_VERSION = "admissionregistration.k8s.io/v1"
NAME_PREFIX = "haproxy-guard-"
NAMESPACE_SELECTOR: dict[str, Any] = {
    "matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "NotIn",
         "values": ["kube-system", "kube-node-lease", "haproxy-guard"]},
        {"key": "haproxy-guard.io/ignore", "operator": "DoesNotExist"},
    ]
}  # fmt: skip
"""The webhook configurations' namespaceSelector (manifests/base/webhooks.yaml; a test keeps them equal)."""

ALL_KINDS = ("deployments", "statefulsets", "daemonsets", "pods")


SHELLS = frozenset({"sh", "/bin/sh", "bash", "/bin/bash", "ash", "/bin/ash", "/usr/bin/sh", "/usr/bin/bash"})
SLEEPS = frozenset({"sleep", "/bin/sleep", "/usr/bin/sleep"})
"""The exec forms CEL compares literally (it has no basename): the shells and `sleep` at their usual paths."""


def _list(values: Any) -> str:
    return "[" + ", ".join(f"'{value}'" for value in sorted(values)) + "]"


def _glob_to_re2(pattern: str) -> str:
    """A shell glob as an RE2 fragment (`*` any run, `?` one character, `[...]` kept, the rest literal)."""
    out, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[" and "]" in pattern[index + 1 :]:
            end = pattern.index("]", index + 1)
            body = pattern[index + 1 : end].replace("\\", "\\\\")
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            index = end
        else:
            out.append(re.escape(char))
        index += 1
    return "".join(out)


def _image_regex(settings: Settings) -> str:
    names = sorted(HAPROXY_IMAGE_NAMES) + [_glob_to_re2(pattern.lower()) for pattern in settings.image_patterns]
    return "^([^/@]*/)*(" + "|".join(f"({name})" for name in names) + ")(:[^/@]*)?(@.*)?$"


def _variables(settings: Settings) -> list[dict[str, str]]:
    image = _image_regex(settings).replace("\\", "\\\\").replace("'", "\\'")
    return [
        {"name": "podSpec", "expression": "object.kind == 'Pod' ? object.spec : object.spec.template.spec"},
        {"name": "annotations",
         "expression": "has(object.metadata.annotations) ? object.metadata.annotations : {}"},
        {"name": "listed",
         "expression": f"'{CONTAINERS_ANNOTATION}' in variables.annotations ? "
                       f"variables.annotations['{CONTAINERS_ANNOTATION}'].split(',').map(n, n.trim()) : []"},
        {"name": "containers",
         "expression": "variables.podSpec.containers + (has(variables.podSpec.initContainers) ? "
                       "variables.podSpec.initContainers.filter(c, has(c.restartPolicy) && c.restartPolicy == 'Always') "
                       ": [])"},
        {"name": "haproxy",
         "expression": f"'{MIRROR_ANNOTATION}' in variables.annotations ? [] : "
                       "variables.containers.filter(c, c.name in variables.listed || "
                       f"(has(c.image) && c.image.lowerAscii().matches('{image}') && {RUNS_HAPROXY}) || "
                       f"(has(c.image) && c.image.lowerAscii().matches('{CONTROLLER_IMAGES}')) || "
                       "(has(c.command) && size(c.command) > 0 && c.command[0].matches('(^|/)haproxy$')))"},
        {"name": "waits", "expression": f"variables.haproxy.map(c, {wait_expression('c')})"},
    ]  # fmt: skip


OTHER_PROGRAM = "(^|/)(dataplaneapi|sleep|tail|cat|true|pause|socat|nc|[^/]*exporter[^/]*|[^/]*dataplane[^/]*)$"
RUNS_HAPROXY = (
    f"!(has(c.command) && size(c.command) > 0 && c.command[0].matches('{OTHER_PROGRAM}')) && "
    f"!((!has(c.command) || size(c.command) == 0) && has(c.args) && size(c.args) > 0 && "
    f"c.args[0].matches('{OTHER_PROGRAM}'))"
)
"""CEL for "the container runs HAProxy" (as `families.container_family` decides it for HAProxy images, but
for shell scripts): no command or args that recognisably run another program (the Dataplane API, an exporter,
a helper loop)."""


CONTROLLER_IMAGES = (
    "^([^/@]*/)*(([^/@]*haproxy[^@]*/kubernetes-ingress)|haproxy-ingress|haproxy-ingress-controller|"
    "haproxy-unified-gateway)(:[^/@]*)?(@.*)?$"
)
"""The HAProxy ingress controllers' and gateway's images (`families.py`), as an RE2 pattern."""
CONTROLLER_WAIT = "^--wait-before-shutdown=[0-9]{1,6}$"


def wait_expression(container: str) -> str:
    """CEL for the seconds `container`'s preStop waits before HAProxy is signalled: 0 without preStop or when a
    script starts by signalling (`kill -USR1 ...`), -1 for a handler that is not a plain wait (as
    `lifecycle.prestop_wait_seconds`, with None as -1), plus the community controller's
    `--wait-before-shutdown=N`. Scripts are read only as far as RE2 can: a leading `sleep N` or `kill`."""
    extra = (
        f"(has({container}.args) && {container}.args.exists(a, a.matches('{CONTROLLER_WAIT}')) ? "
        f"int({container}.args.filter(a, a.matches('{CONTROLLER_WAIT}'))[0].substring(23)) : 0)"
    )
    return f"[{wait_only(container)}].map(w, w < 0 ? -1 : w + {extra})[0]"  # the handler's wait, read once


def wait_only(container: str) -> str:
    """The preStop handler's own wait (see `wait_expression`)."""
    pre_stop = f"{container}.lifecycle.preStop"
    command = f"{pre_stop}.exec.command"
    digits = "[0-9]{1,9}"  # more digits: a wait longer than any threshold; left unjudged, as the engine does
    signals = "(kill|killall|pkill)"
    return (
        f"(!has({container}.lifecycle) || !has({pre_stop})) ? 0 : "
        f"has({pre_stop}.sleep) ? {pre_stop}.sleep.seconds : "
        f"(has({pre_stop}.exec) && has({command})) ? ("
        f"(size({command}) == 2 && {command}[0] in {_list(SLEEPS)} && {command}[1].matches('^{digits}s?$')) ? "
        f"int({command}[1].find('[0-9]+')) : "
        f"(size({command}) == 3 && {command}[0] in {_list(SHELLS)} && {command}[1] == '-c' && "
        f"{command}[2].matches('^\\\\s*sleep\\\\s+{digits}s?\\\\s*&\\\\s*($|[^&])')) ? 0 : "
        f"(size({command}) == 3 && {command}[0] in {_list(SHELLS)} && {command}[1] == '-c' && "
        f"{command}[2].matches('^\\\\s*(exec\\\\s+)?sleep\\\\s+{digits}s?(\\\\s|;|&|$)')) ? "
        f"int({command}[2].find('[0-9]+')) : "
        f"(size({command}) == 3 && {command}[0] in {_list(SHELLS)} && {command}[1] == '-c' && "
        f"{command}[2].matches('^\\\\s*{signals}\\\\s+-') && !{command}[2].matches('^\\\\s*{signals}\\\\s+-0')) ? 0 : "
        f"(size({command}) >= 2 && {command}[0].matches('(^|/){signals}$') && {command}[1] != '-0') ? 0 : -1) : -1"
    )


@dataclass(frozen=True)
class Rule:
    policy: str
    resources: tuple[str, ...]
    expression: str
    message: str


def rules(settings: Settings) -> list[Rule]:
    minimum = settings.pre_stop_seconds
    longest = f"variables.waits.map(w, w > {minimum} ? w : {minimum}).max()"
    required = f"{longest} + {settings.drain_seconds} + {settings.grace_margin_seconds}"
    grace = (
        "(has(variables.podSpec.terminationGracePeriodSeconds) ? variables.podSpec.terminationGracePeriodSeconds "
        f": {KUBERNETES_DEFAULT_GRACE_SECONDS})"
    )
    strategy = (
        "(has(object.spec.strategy) && has(object.spec.strategy.type) ? object.spec.strategy.type : 'RollingUpdate')"
    )
    unavailable = (
        "(has(object.spec.strategy) && has(object.spec.strategy.rollingUpdate) && "
        "has(object.spec.strategy.rollingUpdate.maxUnavailable) ? "
        "string(object.spec.strategy.rollingUpdate.maxUnavailable).trim() : '25%')"
    )
    replicas = "(has(object.spec.replicas) ? object.spec.replicas : 1)"
    shallow_exec = (
        "(has(c.readinessProbe.exec) && has(c.readinessProbe.exec.command) && size(c.readinessProbe.exec.command) > 0 "
        "&& c.readinessProbe.exec.command[0].matches('(^|/)(pgrep|pidof|test|ls|cat|true|ps|stat)$'))"
    )
    return [
        Rule(
            "prestop-wait",
            ALL_KINDS,
            f"variables.waits.all(w, w < 0 || w >= {minimum})",
            f"every HAProxy container needs a preStop wait of at least {minimum}s: HAProxy's stop signal closes "
            "its listeners at once while load balancers still route to the pod",
        ),
        Rule(
            "termination-grace-period",
            ALL_KINDS,
            f"size(variables.haproxy) == 0 || {grace} >= {required}",
            f"terminationGracePeriodSeconds must cover the preStop wait + drain {settings.drain_seconds}s + margin "
            f"{settings.grace_margin_seconds}s: SIGKILL would cut connections still draining",
        ),
        Rule(
            "deployment-recreate",
            ("deployments",),
            f"size(variables.haproxy) == 0 || {strategy} != 'Recreate'",
            "strategy Recreate stops every HAProxy pod before any replacement is ready; use RollingUpdate",
        ),
        Rule(
            "deployment-rolling-update",
            ("deployments",),
            f"size(variables.haproxy) == 0 || {strategy} != 'RollingUpdate' || {unavailable} in ['0', '0%'] || "
            f"({unavailable}.matches('^[0-9]{{1,3}}%$') && "
            f"int({unavailable}.replace('%', '')) * {replicas} / 100 == 0)",
            "maxUnavailable must be 0: old HAProxy pods would stop before their replacements are ready",
        ),
        Rule(
            "readiness-probe",
            ALL_KINDS,
            f"variables.haproxy.all(c, has(c.readinessProbe) && !has(c.readinessProbe.tcpSocket) && !{shallow_exec})",
            "every HAProxy container needs a deep readiness probe (httpGet on an endpoint that fails when no "
            "backend is up): a tcpSocket probe or none stays ready while every backend is down",
        ),
    ]


def _resource_rules(resources: tuple[str, ...]) -> list[dict[str, Any]]:
    rules_: list[dict[str, Any]] = []
    apps = [resource for resource in resources if resource != "pods"]
    if apps:
        rules_.append({"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                       "resources": apps})  # fmt: skip
    if "pods" in resources:
        rules_.append(
            {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["pods"]}
        )
    return rules_


def validating_admission_policies(settings: Settings) -> list[dict[str, Any]]:
    """Policies and bindings for every exported rule that `settings` does not turn off."""
    defaults = {policy.id: policy.default_severity for policy in ALL_POLICIES}
    skip = (
        f"!(has(object.metadata.annotations) && '{SKIP_ANNOTATION}' in object.metadata.annotations && "
        f"object.metadata.annotations['{SKIP_ANNOTATION}'].trim().lowerAscii() == 'true')"
    )
    objects: list[dict[str, Any]] = []
    for rule in rules(settings):
        severity = settings.severity(rule.policy, defaults[rule.policy])
        if severity is Severity.OFF:
            continue
        name = NAME_PREFIX + rule.policy
        labels = {"app.kubernetes.io/name": "haproxy-guard", "haproxy-guard.io/policy": rule.policy}
        objects.append(
            {
                "apiVersion": API_VERSION,
                "kind": "ValidatingAdmissionPolicy",
                "metadata": {"name": name, "labels": labels},
                "spec": {
                    "failurePolicy": "Fail",
                    "matchConstraints": {"resourceRules": _resource_rules(rule.resources)},
                    "matchConditions": [{"name": "not-skipped", "expression": skip}],
                    "variables": _variables(settings),
                    "validations": [
                        {"expression": rule.expression, "message": f"[{rule.policy}] {rule.message}",
                         "reason": "Invalid"}
                    ],
                },
            }
        )  # fmt: skip
        actions = ["Deny"] if severity is Severity.DENY else ["Warn", "Audit"]
        objects.append(
            {
                "apiVersion": API_VERSION,
                "kind": "ValidatingAdmissionPolicyBinding",
                "metadata": {"name": name, "labels": labels},
                "spec": {
                    "policyName": name,
                    "validationActions": actions,
                    "matchResources": {"namespaceSelector": NAMESPACE_SELECTOR},
                },
            }
        )
    return objects
