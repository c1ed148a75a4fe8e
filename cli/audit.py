"""`audit` and `mutate` over a set of documents: the engine, with the input set as the cluster.

Workloads find the ConfigMaps they mount and the PodDisruptionBudgets that select them among the same
documents (a document without a namespace matches any namespace, as `helm template` output often has
none), exactly as the webhook finds them in the API server.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from haproxy_guard.cli.manifests import Document
from haproxy_guard.policies import engine
from haproxy_guard.policies.context import Context
from haproxy_guard.policies.engine import Evaluation
from haproxy_guard.policies.haproxy.validator import Validator
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
        if kind == "ConfigMap" and obj.get("apiVersion") == "v1":
            name = (obj.get("metadata") or {}).get("name")
            if isinstance(name, str):
                self.configmaps.setdefault(name, []).append(obj)
        elif kind == "PodDisruptionBudget":
            self.pdbs.append(obj)
        elif kind == "Service" and obj.get("apiVersion") == "v1":
            name = (obj.get("metadata") or {}).get("name")
            if isinstance(name, str):
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


def audit(documents: Iterable[Document], settings: Settings, validator: Validator | None) -> list[Audited]:
    """Findings for every document, in input order, by `validatorConcurrency` threads (the time goes to
    `haproxy -c` subprocesses, which run in parallel; the validator bounds them).

    `documents` may be a generator: a workload's configuration checks start as soon as it is read (with the
    ConfigMaps read before it), while the rest of the input is still being parsed; every document is
    evaluated once all are read, since a workload may mount a ConfigMap that comes later. A ConfigMap is
    evaluated after the checks of the workloads that mount it: checked alone, it is tried first with their
    branch (`preferred_branch`), and when it renders the same, their run answers it (`RenderedRuns`). A
    ManifestError raised by the generator cancels what has not started."""
    index = InputIndex(settings.image_patterns)
    context = index.context(validator)
    pool = ThreadPoolExecutor(max_workers=settings.validator_concurrency)
    # Workloads that mount the same configuration through the same images mostly share their checks: the first
    # of each goes to the pool, the others to one more thread once that first is done, so their (Python) checks
    # run while the pool's threads wait on `haproxy -c`, instead of all of them after the last run.
    followers = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-followers")
    checking = validator is not None and engine.validates(settings)

    def one(document: Document) -> Audited:
        evaluation = engine.check(document.obj, settings, namespace=document.namespace, context=context)
        return slim(Audited(document, evaluation))

    def after(leaders: Sequence[Future[Any]], document: Document) -> Audited:
        wait(leaders)
        return one(document)

    def warm(workload: Workload) -> None:
        """Run a workload's configuration checks while the input is still read (its findings also depend on
        the rest of the input, so it is evaluated at the end, from the validator's cache)."""
        for mounted in attach_configs(workload, index.configmap, validator).configs:
            _ = mounted.subject.validation

    warming: dict[str, list[Future[None]]] = {}
    futures: list[Document] = []
    try:
        for document in documents:
            workload = index.add(document.obj)
            if workload is not None and checking:
                started = pool.submit(warm, workload)
                for mounted in config_mounts(workload):
                    warming.setdefault(mounted.configmap, []).append(started)
            futures.append(document)
        # The first workload of each configuration goes to the pool at once (its checks wait on `haproxy -c`);
        # what needs no new run (documents without a configuration, then the workloads sharing a first one's,
        # in the order of their first) goes to the followers' thread, whose Python work then overlaps the runs
        leaders: dict[tuple[Any, ...], Future[Audited]] = {}
        waiting: dict[tuple[Any, ...], list[tuple[int, Document]]] = {}
        pending: dict[int, Future[Audited]] = {}
        for position, item in enumerate(futures):
            if _is_configmap(item.obj):
                name = (item.obj.get("metadata") or {}).get("name")
                pending[position] = followers.submit(after, warming.get(str(name), []), item)
                continue
            key = _shared_checks(item, index)
            if key is None:
                pending[position] = followers.submit(one, item)
            elif key in leaders:
                waiting[key].append((position, item))
            else:
                pending[position] = leaders[key] = pool.submit(one, item)
                waiting[key] = []
        for key, documents_after in waiting.items():
            for position, document in documents_after:
                pending[position] = followers.submit(after, [leaders[key]], document)
        return [pending[position].result() for position in range(len(futures))]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        followers.shutdown(wait=True, cancel_futures=True)


def _shared_checks(document: Document, index: InputIndex) -> tuple[Any, ...] | None:
    """What decides a workload's configuration checks, roughly (only the order of work depends on it): the
    content of each ConfigMap it mounts and its containers' images; None for anything else."""
    found = pod_spec_of(document.obj)
    if found is None:
        return None
    volumes = configmap_volumes(found[1])
    if not volumes:
        return None
    contents = []
    for name in sorted(set(volumes.values())):
        configmap = index.configmap(document.namespace, name)
        data = configmap.get("data") if configmap is not None else None
        contents.append(tuple(sorted((str(k), str(v)) for k, v in data.items())) if isinstance(data, dict) else name)
    containers = found[1].get("containers")
    images = (
        tuple(str(c.get("image")) for c in containers if isinstance(c, dict)) if isinstance(containers, list) else ()
    )
    return (tuple(contents), images)


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
