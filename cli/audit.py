"""`audit` and `mutate` over a set of documents: the engine, with the input set as the cluster.

Workloads find the ConfigMaps they mount and the PodDisruptionBudgets that select them among the same
documents (a document without a namespace matches any namespace, as `helm template` output often has
none), exactly as the webhook finds them in the API server.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from haproxy_guard.cli.manifests import Document
from haproxy_guard.policies import engine
from haproxy_guard.policies.context import Context
from haproxy_guard.policies.engine import Evaluation
from haproxy_guard.policies.haproxy.validator import Validator
from haproxy_guard.policies.model.findings import Finding, Severity
from haproxy_guard.policies.model.settings import Settings


@dataclass(frozen=True)
class Audited:
    document: Document
    evaluation: Evaluation

    @property
    def findings(self) -> tuple[Finding, ...]:
        return self.evaluation.findings


def _same_namespace(wanted: str | None, found: str | None) -> bool:
    return wanted is None or found is None or wanted == found


def input_context(objects: Sequence[dict[str, Any]], validator: Validator | None) -> Context:
    """A Context whose ConfigMaps and PDBs are the input objects."""

    def namespace_of(obj: dict[str, Any]) -> str | None:
        value = (obj.get("metadata") or {}).get("namespace")
        return str(value) if value else None

    configmaps = [obj for obj in objects if obj.get("kind") == "ConfigMap" and obj.get("apiVersion") == "v1"]
    pdbs = [obj for obj in objects if obj.get("kind") == "PodDisruptionBudget"]

    def configmap(namespace: str | None, name: str) -> dict[str, Any] | None:
        for obj in configmaps:
            if (obj.get("metadata") or {}).get("name") == name and _same_namespace(namespace, namespace_of(obj)):
                return obj
        return None

    def budgets(namespace: str | None) -> list[dict[str, Any]]:
        return [obj for obj in pdbs if _same_namespace(namespace, namespace_of(obj))]

    return Context(validator, configmap, budgets)


def audit(documents: Sequence[Document], settings: Settings, validator: Validator | None) -> list[Audited]:
    """Findings for every document, in input order. Documents are checked by `validatorConcurrency` threads:
    the time goes to `haproxy -c` subprocesses, which run in parallel (the validator bounds them)."""
    context = input_context([document.obj for document in documents], validator)

    def one(document: Document) -> Audited:
        return Audited(document, engine.check(document.obj, settings, namespace=document.namespace, context=context))

    with ThreadPoolExecutor(max_workers=settings.validator_concurrency) as pool:
        return list(pool.map(one, documents))


def denied(results: Sequence[Audited]) -> bool:
    return any(finding.severity is Severity.DENY for result in results for finding in result.findings)
