"""`haproxy-guard audit --cluster [--namespace NS]`: the same findings for what is running now.

Reads Deployments, StatefulSets, DaemonSets, standalone Pods, ConfigMaps and PodDisruptionBudgets through
the API (kubeconfig, else in-cluster) with list calls only (needs `list` on them), and never writes. With
`--format policyreport` it prints `wgpolicyk8s.io/v1alpha2` PolicyReport objects, one per namespace, that
report viewers (Policy Reporter, kubectl get polr once applied) can show.
"""

from __future__ import annotations

import datetime
import sys
from collections.abc import Callable, Sequence
from typing import Any

import yaml

from haproxy_guard.cli.audit import Audited, denied, input_context
from haproxy_guard.cli.commands import EXIT_FINDINGS, EXIT_OK, tool_version
from haproxy_guard.cli.manifests import Document
from haproxy_guard.cli.report import render
from haproxy_guard.policies import engine
from haproxy_guard.policies.haproxy.validator import Validator
from haproxy_guard.policies.model.findings import Severity
from haproxy_guard.policies.model.settings import Settings

REQUEST_TIMEOUT = 30


class ClusterError(Exception):
    """The cluster could not be read (exit 2)."""


def _lists(api: Any, namespace: str | None) -> list[tuple[str, str, Callable[[], Any]]]:
    from kubernetes import client  # noqa: PLC0415

    apps, core, policy = client.AppsV1Api(api), client.CoreV1Api(api), client.PolicyV1Api(api)
    options = {"_request_timeout": REQUEST_TIMEOUT}

    def pick(all_namespaces: Callable[..., Any], one: Callable[..., Any]) -> Callable[[], Any]:
        return (lambda: one(namespace, **options)) if namespace else (lambda: all_namespaces(**options))

    return [
        ("apps/v1", "Deployment", pick(apps.list_deployment_for_all_namespaces, apps.list_namespaced_deployment)),
        ("apps/v1", "StatefulSet", pick(apps.list_stateful_set_for_all_namespaces, apps.list_namespaced_stateful_set)),
        ("apps/v1", "DaemonSet", pick(apps.list_daemon_set_for_all_namespaces, apps.list_namespaced_daemon_set)),
        ("v1", "Pod", pick(core.list_pod_for_all_namespaces, core.list_namespaced_pod)),
        ("v1", "ConfigMap", pick(core.list_config_map_for_all_namespaces, core.list_namespaced_config_map)),
        (
            "policy/v1",
            "PodDisruptionBudget",
            pick(policy.list_pod_disruption_budget_for_all_namespaces, policy.list_namespaced_pod_disruption_budget),
        ),
    ]


def read_cluster(api: Any, namespace: str | None) -> list[dict[str, Any]]:
    """Every object of the audited kinds, as dicts with apiVersion and kind (pods owned by controllers are
    left out: their controller is audited)."""
    objects: list[dict[str, Any]] = []
    for api_version, kind, call in _lists(api, namespace):
        try:
            listed = call()
        except Exception as error:
            raise ClusterError(f"cannot list {kind} objects: {getattr(error, 'reason', None) or error}") from None
        for item in listed.items:
            obj = api.sanitize_for_serialization(item)
            if kind == "Pod" and (obj.get("metadata") or {}).get("ownerReferences"):
                continue
            objects.append({"apiVersion": api_version, "kind": kind, **obj})
    return objects


def audit_objects(
    objects: Sequence[dict[str, Any]], settings: Settings, validator: Validator | None, progress: bool
) -> list[Audited]:
    context = input_context(objects, validator)
    results = []
    for index, obj in enumerate(objects):
        document = Document("cluster", index, obj)
        results.append(Audited(document, engine.check(obj, settings, namespace=document.namespace, context=context)))
        if progress and (index % 10 == 9 or index + 1 == len(objects)):
            done = (index + 1) * 30 // len(objects)
            print(
                f"\r[{'#' * done}{'.' * (30 - done)}] {index + 1}/{len(objects)}", end="", file=sys.stderr, flush=True
            )
    if progress and objects:
        print(file=sys.stderr)
    return [result for result in results if result.evaluation.subject is not None]


def policy_reports(results: Sequence[Audited]) -> list[dict[str, Any]]:
    """One wgpolicyk8s.io/v1alpha2 PolicyReport per namespace."""
    now = datetime.datetime.now(datetime.UTC)
    timestamp = {"seconds": int(now.timestamp()), "nanos": 0}
    by_namespace: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        subject = result.evaluation.subject
        assert subject is not None
        metadata = result.document.obj.get("metadata") or {}
        resource = {
            "apiVersion": result.document.obj["apiVersion"],
            "kind": subject.kind,
            "name": subject.name,
            "namespace": subject.namespace,
            "uid": metadata.get("uid"),
        }
        entries = by_namespace.setdefault(subject.namespace or "default", [])
        for finding in result.findings:
            entries.append(
                {
                    "source": "haproxy-guard",
                    "policy": finding.policy,
                    "rule": finding.policy,
                    "result": "fail" if finding.severity is Severity.DENY else "warn",
                    "severity": "high" if finding.severity is Severity.DENY else "medium",
                    "message": finding.message,
                    "scored": True,
                    "timestamp": timestamp,
                    "resources": [resource],
                    "properties": {"path": finding.path or ""},
                }
            )
        if not result.findings:
            entries.append(
                {"source": "haproxy-guard", "policy": "haproxy-guard", "rule": "all", "result": "pass",
                 "message": "no findings", "scored": True, "timestamp": timestamp, "resources": [resource]}
            )  # fmt: skip
    reports = []
    for namespace, entries in sorted(by_namespace.items()):
        counts = {key: sum(1 for entry in entries if entry["result"] == key) for key in ("pass", "fail", "warn")}
        reports.append(
            {
                "apiVersion": "wgpolicyk8s.io/v1alpha2",
                "kind": "PolicyReport",
                "metadata": {
                    "name": "haproxy-guard",
                    "namespace": namespace,
                    "labels": {"app.kubernetes.io/managed-by": "haproxy-guard"},
                },
                "scope": None,
                "summary": {**counts, "error": 0, "skip": 0},
                "results": entries,
            }
        )
    for report in reports:
        del report["scope"]
    return reports


def run_cluster_audit(
    settings: Settings, validator: Validator | None, output_format: str, namespace: str | None
) -> int:
    from haproxy_guard.webhook.cluster import api_client  # noqa: PLC0415

    api = api_client()
    if api is None:
        raise ClusterError("no Kubernetes API configuration found (kubeconfig or in-cluster service account)")
    results = audit_objects(read_cluster(api, namespace), settings, validator, sys.stderr.isatty())
    if output_format == "policyreport":
        print(yaml.safe_dump_all(policy_reports(results), sort_keys=False), end="")
    else:
        print(render(results, output_format, tool_version(), sys.stdout))
    return EXIT_FINDINGS if denied(results) else EXIT_OK
