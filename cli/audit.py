"""`audit` and `mutate` over a set of documents: the engine, with the input set as the cluster.

Workloads find the ConfigMaps they mount and the PodDisruptionBudgets that select them among the same
documents (a document without a namespace matches any namespace, as `helm template` output often has
none), exactly as the webhook finds them in the API server.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from haproxy_guard.cli.manifests import Document
from haproxy_guard.policies import engine
from haproxy_guard.policies.context import Context
from haproxy_guard.policies.engine import Evaluation
from haproxy_guard.policies.haproxy.validator import Validator
from haproxy_guard.policies.model.configmap import inspect_configmap
from haproxy_guard.policies.model.findings import Finding, Severity
from haproxy_guard.policies.model.mounts import (
    MOUNTER_KINDS,
    attach_configs,
    config_mounts,
    configmap_volumes,
    configuration_versions,
)
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.workload import Workload, inspect_workload, pod_spec_of


@dataclass(frozen=True)
class Audited:
    document: Document
    evaluation: Evaluation

    @property
    def findings(self) -> tuple[Finding, ...]:
        return self.evaluation.findings


def _same_namespace(wanted: str | None, found: str | None) -> bool:
    return wanted is None or found is None or wanted == found


def _namespace_of(obj: dict[str, Any]) -> str | None:
    metadata = obj.get("metadata")
    value = metadata.get("namespace") if isinstance(metadata, dict) else None
    return str(value) if value else None


class InputIndex:
    """The input's ConfigMaps by name and its PodDisruptionBudgets, filled as documents arrive; lookups keep
    the first match in input order, as a scan of the whole input would. Also which HAProxy versions mount
    each ConfigMap (`mounters`), from the input's workloads."""

    def __init__(self, image_patterns: tuple[str, ...] = ()) -> None:
        self.image_patterns = image_patterns
        self.configmaps: dict[str, list[dict[str, Any]]] = {}
        self.services: dict[str, list[dict[str, Any]]] = {}
        self.autoscalers: list[dict[str, Any]] = []
        self.pdbs: list[dict[str, Any]] = []
        self.mounts: dict[str, list[tuple[str | None, str | None]]] = {}
        """ConfigMap name -> (namespace, HAProxy version) of each container mounting it as configuration."""

    def add(self, obj: dict[str, Any]) -> Workload | None:
        """Index `obj`; the HAProxy workload it is, when it mounts configuration."""
        kind = obj.get("kind")
        if kind in MOUNTER_KINDS:
            return self._add_workload(obj)
        if _is_configmap(obj):
            name = _name_of(obj)
            if name is not None:
                self.configmaps.setdefault(name, []).append(obj)
        elif kind == "PodDisruptionBudget":
            self.pdbs.append(obj)
        elif kind == "Service" and obj.get("apiVersion") == "v1":
            name = _name_of(obj)
            if name is not None:
                self.services.setdefault(name, []).append(obj)
        elif kind == "HorizontalPodAutoscaler":
            self.autoscalers.append(obj)
        return None

    def _add_workload(self, obj: dict[str, Any]) -> Workload | None:
        found = pod_spec_of(obj)
        if found is None or not configmap_volumes(found[1]):
            return None  # no ConfigMap volume: not worth the inspection
        workload = inspect_workload(obj, self.image_patterns, _namespace_of(obj))
        if workload is None:
            return None
        versions = configuration_versions(workload)
        for name, found_versions in versions.items():
            self.mounts.setdefault(name, []).extend((workload.namespace, version) for version in found_versions)
        return workload if versions else None

    def mounters(self, namespace: str | None, name: str) -> list[str | None]:
        """The HAProxy versions of the input's containers that mount ConfigMap `name` in `namespace`."""
        return [version for found, version in self.mounts.get(name, ()) if _same_namespace(namespace, found)]

    def configmap(self, namespace: str | None, name: str) -> dict[str, Any] | None:
        for obj in self.configmaps.get(name, ()):
            if _same_namespace(namespace, _namespace_of(obj)):
                return obj
        return None

    def budgets(self, namespace: str | None) -> list[dict[str, Any]]:
        return [obj for obj in self.pdbs if _same_namespace(namespace, _namespace_of(obj))]

    def service(self, namespace: str | None, name: str) -> dict[str, Any] | None:
        for obj in self.services.get(name, ()):
            if _same_namespace(namespace, _namespace_of(obj)):
                return obj
        return None

    def autoscaler(self, namespace: str | None, kind: str, name: str) -> dict[str, Any] | None:
        """The HorizontalPodAutoscaler of the input whose scaleTargetRef names that workload."""
        for obj in self.autoscalers:
            spec = obj.get("spec")
            target = spec.get("scaleTargetRef") if isinstance(spec, dict) else None
            if (
                isinstance(target, dict)
                and target.get("kind") == kind
                and target.get("name") == name
                and _same_namespace(namespace, _namespace_of(obj))
            ):
                return obj
        return None

    def context(self, validator: Validator | None) -> Context:
        return Context(validator, self.configmap, self.budgets, self.service, self.autoscaler, self.mounters)


def input_context(
    objects: Iterable[dict[str, Any]], validator: Validator | None, image_patterns: tuple[str, ...] = ()
) -> Context:
    """A Context whose ConfigMaps, PDBs, Services, autoscalers and mounting workloads are the input objects."""
    index = InputIndex(image_patterns)
    for obj in objects:
        index.add(obj)
    return index.context(validator)


def _is_configmap(obj: dict[str, Any]) -> bool:
    return obj.get("kind") == "ConfigMap" and obj.get("apiVersion") == "v1"


class _Ahead:
    """A workload's configuration checks, started while the input is read (`warm`); once all is read, started
    once more when they missed a ConfigMap then."""

    def __init__(self, pool: ThreadPoolExecutor, warm: Callable[[Workload], bool], workload: Workload) -> None:
        self.pool, self.warm, self.workload = pool, warm, workload
        self.future = pool.submit(warm, workload)
        self.final = False

    def refresh(self) -> None:
        """Start the checks again, with the whole input, if they are done and missed a ConfigMap (once)."""
        if self.final or not self.future.done():
            return
        self.final = True
        if self.future.exception() is None and self.future.result():
            self.future = self.pool.submit(self.warm, self.workload)

    def wait(self) -> None:
        """Until the checks are done with the whole input (an error in them is met again at evaluation)."""
        wait([self.future])
        self.refresh()
        wait([self.future])


class _Checks:
    """The configuration checks started while the input is read, so that the evaluation finds them in the
    validator's cache: one start for each distinct workload (`_shared_checks`), in the pool's threads."""

    def __init__(self, index: InputIndex, context: Context, pool: ThreadPoolExecutor) -> None:
        self.index, self.context, self.pool = index, context, pool
        self.ahead: dict[int, _Ahead] = {}
        """Position of each workload read -> its checks (those of the first workload like it)."""
        self.leaders: dict[tuple[Any, ...], _Ahead] = {}
        self.mounting: dict[str, list[int]] = {}
        """ConfigMap name -> positions of the workloads that mount it as configuration."""

    def warm(self, workload: Workload) -> bool:
        """Run a workload's configuration checks with the input read so far; whether a ConfigMap it reads
        was missing then."""
        missed = False

        def configmap(namespace: str | None, name: str) -> dict[str, Any] | None:
            nonlocal missed
            found = self.index.configmap(namespace, name)
            missed = missed or found is None
            return found

        for mounted in attach_configs(workload, configmap, self.context.validator).configs:
            _ = mounted.subject.validation
        # and each ConfigMap as its own evaluation will check it, alone (mostly answered by the run above)
        for name in dict.fromkeys(mount.configmap for mount in config_mounts(workload)):
            obj = self.index.configmap(workload.namespace, name)
            alone = inspect_configmap(obj, _namespace_of(obj)) if obj is not None else None
            if alone is not None and not engine.opted_out(alone):
                _ = engine.configmap_subject(alone, self.context).validation
        return missed

    def start(self, position: int, workload: Workload) -> None:
        key = _shared_checks(workload, self.index)
        started = self.leaders.get(key) if key is not None else None
        if started is None:
            started = _Ahead(self.pool, self.warm, workload)
            if key is not None:
                self.leaders[key] = started
        self.ahead[position] = started
        for mounted in config_mounts(workload):
            self.mounting.setdefault(mounted.configmap, []).append(position)

    def read(self) -> None:
        """All is read: checks that missed a ConfigMap and are done start again now."""
        for started in self.ahead.values():
            started.refresh()

    def unmounted(self, document: Document) -> bool:
        """A ConfigMap that no workload of the input mounts (its own check may run)."""
        name = _name_of(document.obj)
        return _is_configmap(document.obj) and not (name is not None and self.mounting.get(name))

    def wait(self, position: int, document: Document) -> None:
        """Until the checks a document's evaluation needs are done: a workload's own, a ConfigMap's mounters'."""
        if position in self.ahead:
            self.ahead[position].wait()
        elif _is_configmap(document.obj):
            for mounter in self.mounting.get(_name_of(document.obj) or "", ()):
                self.ahead[mounter].wait()


def audit(documents: Iterable[Document], settings: Settings, validator: Validator | None) -> list[Audited]:
    """Findings for every document, in input order.

    `documents` may be a generator: a workload's configuration checks start as soon as it is read (with the
    ConfigMaps read before it), in `validatorConcurrency` threads whose time goes to `haproxy -c`, while the
    rest of the input is still being parsed (`_Checks`). Every document is evaluated once all are read (a
    workload may mount a ConfigMap that comes later), on this thread, in input order, each once the checks
    started for it are done, so that the validator's cache answers them: handing every document to another
    thread cost more than evaluating it (their locks, and the interpreter lock passed back and forth). A
    workload that read a ConfigMap missing at the time is checked again with all the input. A ConfigMap is
    evaluated after the checks of the workloads that mount it: checked alone, it is tried first with their
    branch (`preferred_branch`), and when it renders the same, their run answers it (`RenderedRuns`); one
    that no workload mounts is evaluated in the pool, since it runs its own check. A ManifestError raised
    by the generator cancels what has not started."""
    index = InputIndex(settings.image_patterns)
    context = index.context(validator)
    pool = ThreadPoolExecutor(max_workers=settings.validator_concurrency)
    checks = _Checks(index, context, pool) if validator is not None and engine.validates(settings) else None

    def one(document: Document) -> Audited:
        evaluation = engine.check(document.obj, settings, namespace=document.namespace, context=context)
        return slim(Audited(document, evaluation))

    read: list[Document] = []
    try:
        for document in documents:
            workload = index.add(document.obj)
            if workload is not None and checks is not None:
                checks.start(len(read), workload)
            read.append(document)
        if checks is None:
            return [one(document) for document in read]
        checks.read()
        alone = {position: pool.submit(one, doc) for position, doc in enumerate(read) if checks.unmounted(doc)}
        results: list[Audited] = []
        for position, document in enumerate(read):
            if position in alone:
                results.append(alone[position].result())
            else:
                checks.wait(position, document)
                results.append(one(document))
        return results
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _shared_checks(workload: Workload, index: InputIndex) -> tuple[Any, ...] | None:
    """What decides a workload's configuration checks: its annotations, its pod template's, and its pod spec
    with each ConfigMap volume's name replaced by that ConfigMap's content (kept apart from the text, whose
    strings are hashed once, not copied into it); None while one of them is not read yet. Two workloads
    with the same key mostly share their checks (a ConfigMap their containers take variables from, a
    projected volume, may still tell them apart): only the order of work depends on it, never a result.
    The text is `repr`, which takes any parsed value (keys of mixed types included, which JSON's sorted
    keys refuse); two equal specs written in another key order only share less."""
    volumes: list[Any] = []
    contents: list[tuple[Any, ...]] = []
    for volume in workload.pod_spec.get("volumes") or []:
        source = volume.get("configMap") if isinstance(volume, dict) else None
        if isinstance(source, dict) and isinstance(source.get("name"), str):
            configmap = index.configmap(workload.namespace, source["name"])
            if configmap is None:
                return None
            contents.append(tuple(_items(configmap.get(field)) for field in ("data", "binaryData")))
            volumes.append({**volume, "configMap": {**source, "name": len(contents)}})
        else:
            volumes.append(volume)
    metadata, template = workload.obj.get("metadata"), (workload.obj.get("spec") or {}).get("template")
    decides = {
        "annotations": metadata.get("annotations") if isinstance(metadata, dict) else None,
        "template": (template.get("metadata") or {}).get("annotations") if isinstance(template, dict) else None,
        "spec": {**workload.pod_spec, "volumes": volumes},
    }
    return repr(decides), tuple(contents)


def _items(value: Any) -> tuple[tuple[str, str], ...] | str:
    if isinstance(value, dict):
        return tuple(sorted((str(key), str(item)) for key, item in value.items()))
    return repr(value)


def _name_of(obj: dict[str, Any]) -> str | None:
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) else None


def slim(result: Audited) -> Audited:
    """The result without the object and what was derived from it (identity, findings and, for SARIF, the
    document's YAML node are all a report needs), so memory does not grow with what was read."""
    obj = result.document.obj
    metadata = obj.get("metadata") or {}
    identity = {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": {key: metadata[key] for key in ("name", "namespace", "uid") if key in metadata},
    }
    subject = result.evaluation.subject
    if isinstance(subject, Workload):
        subject = subject.evolve(obj=identity, pod_spec={}, haproxy_containers=(), configs=(), pdbs=())
    elif subject is not None:
        subject = dataclasses.replace(subject, obj=identity, data={})
    document = dataclasses.replace(result.document, obj=identity)
    return Audited(document, dataclasses.replace(result.evaluation, subject=subject))


def denied(results: Sequence[Audited]) -> bool:
    return any(finding.severity is Severity.DENY for result in results for finding in result.findings)
