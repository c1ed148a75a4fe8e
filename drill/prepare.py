"""From input documents to what the drill runs: each HAProxy workload as written and as `mutate` makes it,
with its configuration rendered the way the validator renders it (the same `ConfigBundle`, the same
`render`), validated first by the same engine, and the configuration advice applied to the mutated copy.

Bad input is a `DrillError` (one line, exit 2): no HAProxy workload, a ConfigMap it mounts that is not in
the input, a configuration that does not validate, nothing plain to send load to.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from haproxy_guard.cli.audit import input_context
from haproxy_guard.cli.commands import mutate_documents
from haproxy_guard.cli.manifests import Document
from haproxy_guard.drill.adapt import AdaptError, Layout, connection_cap, layout
from haproxy_guard.drill.advice import Advice, advise
from haproxy_guard.drill.plan import PodPlan, pod_plan
from haproxy_guard.policies import engine
from haproxy_guard.policies.haproxy.bundle import ConfigBundle
from haproxy_guard.policies.haproxy.render import RenderLimitError, render
from haproxy_guard.policies.haproxy.unknowns import find_unknowns
from haproxy_guard.policies.haproxy.validator import Validator, child_environment
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.workload import Workload


class DrillError(ValueError):
    """Input the drill cannot run: reported on one line, exit code 2."""


@dataclass
class Prepared:
    """One spec of one workload, ready to start replicas from."""

    spec: str
    """"as-written" or "mutated"."""
    plan: PodPlan
    version: str
    binary: str
    configs: list[str]
    """Rendered configuration texts, in load order (stand-in files live in `render_dir`)."""
    env: dict[str, str]
    layout: Layout
    traffic_port: int
    local_peer: str | None
    render_dir: Path
    advice: list[Advice] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Target:
    """A workload to drill: its two specs."""

    title: str
    specs: tuple[Prepared, Prepared]


def _workload(document: Document, settings: Settings, context: Any) -> tuple[Workload | None, list[str]]:
    """The workload with its mounts attached, and the deny-level findings it still has."""
    evaluation = engine.check(document.obj, settings, namespace=document.namespace, context=context)
    workload = evaluation.workload if isinstance(evaluation.workload, Workload) else None
    return workload, [f"[{finding.policy}] {finding.message}" for finding in evaluation.denied]


def _bundle(workload: Workload, source: str) -> tuple[ConfigBundle, Any, Any]:
    if workload.unavailable_configs:
        raise DrillError(
            f"{source}: {workload.kind} {workload.name} mounts ConfigMap {workload.unavailable_configs[0]}, "
            "which is not in the input: give it too"
        )
    if not workload.configs:
        raise DrillError(f"{source}: {workload.kind} {workload.name} mounts no HAProxy ConfigMap: nothing to run")
    mounted = workload.configs[0]
    subject = mounted.subject
    bundle = subject.configmap.bundle() if subject.view is None else subject.configmap.bundle_in(subject.view)
    return bundle, mounted, subject


def _prepare(
    spec: str,
    workload: Workload,
    *,
    source: str,
    validator: Validator,
    version_override: str | None,
    folder: Path,
    settings: Settings,
) -> Prepared:
    bundle, mounted, subject = _bundle(workload, source)
    plan = pod_plan(workload, mounted.mount.container)
    result = validator.validate(bundle, version_override or plan.haproxy_version)
    if not result.valid:
        reason = result.errors[0] if result.errors else "rejected"
        raise DrillError(f"{source}: the configuration of {plan.title} does not validate: {reason}")
    version, binary = validator.choose(version_override or plan.haproxy_version)
    advice: list[Advice] = []
    if spec == "mutated":
        bundle, advice = advise(bundle, subject.configmap.facts, settings)
    unknowns = find_unknowns(bundle)
    env = child_environment({**unknowns.stand_ins(), **dict.fromkeys(bundle.unknown_env, "1"), **bundle.env})
    render_dir = folder / spec / "rendered"
    render_dir.mkdir(parents=True)
    try:
        sandbox = render(bundle, render_dir)
    except RenderLimitError as error:
        raise DrillError(f"{source}: {error}") from None
    texts = [(render_dir / name).read_text(encoding="utf-8") for name in sandbox.config_names]
    health = subject.configmap.facts.health_endpoint
    try:
        found = layout(texts, env, health.port if health else None)
    except AdaptError as error:
        raise DrillError(f"{source}: {error}") from None
    traffic = found.traffic_port(health.port if health else None)
    if traffic is None:
        raise DrillError(
            f"{source}: {plan.title}: no plain-text listener to send load to (every bind is TLS, statistics or health)"
        )
    notes = [plan.pre_stop.note] if plan.pre_stop.note else []
    if len(workload.haproxy_containers) > 1:
        notes.append(f"{len(workload.haproxy_containers)} HAProxy containers: container {plan.container} is drilled")
    if plan.readiness.kind in {"exec", "grpc"}:
        notes.append(f"the {plan.readiness.kind} readiness probe cannot run here: ready once HAProxy listens")
    maxconn = subject.configmap.facts.maxconn
    if maxconn is not None and maxconn > connection_cap():
        notes.append(
            f"global maxconn {maxconn} run as {connection_cap()}: this machine's open-files limit is lower than a pod's"
        )
    if plan.replicas != plan.replicas_written:
        notes.append(f"{plan.replicas_written} replicas drilled as {plan.replicas}")
    return Prepared(
        spec, plan, version, binary, texts, env, found, traffic, sandbox.local_peer, render_dir, advice, notes
    )


def prepare(
    documents: Sequence[Document],
    settings: Settings,
    validator: Validator,
    folder: Path,
    version_override: str | None = None,
) -> list[Target]:
    """Every HAProxy workload of the input, as written and as mutated, ready to run."""
    mutated = mutate_documents(documents, settings, validator)
    written_context = input_context([document.obj for document in documents], validator, settings.image_patterns)
    mutated_context = input_context(mutated, validator, settings.image_patterns)
    targets: list[Target] = []
    for index, (document, after) in enumerate(zip(documents, mutated, strict=True)):
        workload, _ = _workload(document, settings, written_context)
        if workload is None:
            continue
        after_workload, remaining = _workload(Document(document.file, document.index, after), settings, mutated_context)
        assert after_workload is not None
        place = folder / f"w{index}"
        if place.exists():
            shutil.rmtree(place)
        common: dict[str, Any] = {
            "source": document.source,
            "validator": validator,
            "version_override": version_override,
            "folder": place,
            "settings": settings,
        }
        specs = (
            _prepare("as-written", workload, **common),
            _prepare("mutated", after_workload, **common),
        )
        specs[1].notes.extend(f"still denied after mutate: {finding}" for finding in remaining)
        targets.append(Target(specs[0].plan.title, specs))
    if not targets:
        raise DrillError(
            "no HAProxy workload (Deployment, StatefulSet, DaemonSet or Pod with an HAProxy container) in the input"
        )
    return targets
