"""What the rollout controller does with one workload, decided by the engine the webhook uses.

The new hash is the `config-hash` fix's own (`engine.mutate` with that policy alone), so the controller and
the webhook cannot disagree on it. A workload is rolled only when:

- it carries the annotation already (the webhook manages it), or it carries none because its ConfigMaps did
  not exist when it was written: every mounted HAProxy ConfigMap was created after the workload (its pods
  could not start with that content; without this the webhook's "skipped while unavailable" would never end);
- the fix changes the hash (a legacy 32-digit value of the same content counts as current);
- and the webhook would admit the result: no deny-level finding of a configuration policy under `enforce`
  (a configuration `haproxy -c` of the pods' branch refuses is never rolled out, in audit mode neither).

Opt-outs are the engine's (the skip annotation, `policies: {config-hash: off}`, checksum and reloader
annotations, controllers that write their own configuration); ignored namespaces are the controller's.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from haproxy_guard.policies import engine
from haproxy_guard.policies.context import Context
from haproxy_guard.policies.model.findings import Severity
from haproxy_guard.policies.model.settings import Mode, Settings
from haproxy_guard.policies.registry import POLICIES
from haproxy_guard.policies.rules import config_hash
from haproxy_guard.webhook.rollouts.index import WORKLOAD_KINDS, mounted_configmaps

_CONFIG_POLICIES = tuple(policy for policy in POLICIES if policy.check_configmap is not None)
"""The policies that judge a configuration (`haproxy-config-valid` among them): a deny-level finding of one of
them is what the webhook would refuse the configuration for."""


class Action(enum.StrEnum):
    ROLL = "roll"
    NONE = "none"
    BLOCKED = "blocked"


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str
    old_hash: object = None
    new_hash: str | None = None
    patch: tuple[dict[str, Any], ...] = ()
    """RFC 6902 operations from the object decided on to the rolled one (empty unless ROLL)."""


def _created(obj: dict[str, Any] | None) -> datetime | None:
    stamp = ((obj or {}).get("metadata") or {}).get("creationTimestamp")
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None


def _appeared_after(obj: dict[str, Any], mounted: list[dict[str, Any]]) -> bool:
    """Whether every mounted HAProxy ConfigMap was created after the workload (timestamps have whole seconds:
    the same second counts, a workload and its ConfigMaps applied together in that order being the case)."""
    born = _created(obj)
    created = [_created(configmap) for configmap in mounted]
    return born is not None and bool(created) and all(when is not None and when >= born for when in created)


def decide(obj: dict[str, Any], settings: Settings, context: Context) -> Decision:
    """The decision for `obj` (a workload as the API server stores it) with the ConfigMaps `context` reads."""
    if obj.get("kind") not in WORKLOAD_KINDS:
        return Decision(Action.NONE, "not a workload")
    namespace = (obj.get("metadata") or {}).get("namespace")
    old = config_hash.current_hash((obj.get("spec") or {}).get("template"))
    mutation = engine.mutate(
        obj, settings, namespace=namespace, operation="UPDATE", policies=(config_hash.POLICY,), context=context
    )
    if config_hash.POLICY_ID not in mutation.changed_by:
        return Decision(Action.NONE, "up to date, opted out or not an HAProxy workload with a readable ConfigMap", old)
    new = config_hash.current_hash(mutation.mutated["spec"]["template"])
    assert isinstance(new, str)
    if old is None:
        source = context.configmaps
        mounted = [
            configmap
            for name in mounted_configmaps(obj, settings)
            if source is not None and (configmap := source(namespace, name)) is not None
        ]
        if not _appeared_after(obj, mounted):
            return Decision(
                Action.NONE, "no config-hash annotation: the webhook adds it when the workload is written", old
            )
    enforcing = settings.model_copy(update={"mode": Mode.ENFORCE})
    evaluation = engine.check(
        mutation.mutated, enforcing, namespace=namespace, policies=_CONFIG_POLICIES, context=context
    )
    denied = [finding for finding in evaluation.findings if finding.severity is Severity.DENY]
    if denied:
        reasons = "; ".join(f"[{finding.policy}] {finding.message}" for finding in denied)
        return Decision(Action.BLOCKED, f"not rolled: the webhook would deny this configuration: {reasons}", old, new)
    return Decision(Action.ROLL, "the mounted HAProxy configuration changed", old, new, tuple(mutation.patch))
