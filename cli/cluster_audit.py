"""`haproxy-guard audit --cluster [--namespace NS]`: the same findings for what is running now, streamed.

Workloads (Deployments, StatefulSets, DaemonSets, standalone Pods) are listed in pages (`limit` + `continue`)
as raw JSON and evaluated as each page arrives; the ConfigMaps they mount are read by name and their
namespace's PodDisruptionBudgets on demand, both cached; ConfigMaps labelled `haproxy-guard.io/config` are
listed too. Each result keeps only the object's identity and its findings, so memory does not grow with the
cluster. Needs read access only, never writes. With `--format policyreport` it prints
`wgpolicyk8s.io/v1alpha2` PolicyReport objects, one per namespace, that report viewers can show: the namespaces
are listed and audited one at a time, each report written when its namespace is done, so memory holds one
namespace's results (where namespaces cannot be listed, the whole cluster's, as one pass).
"""

from __future__ import annotations

import datetime
import functools
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any

import orjson
import yaml

from haproxy_guard.cli.audit import Audited, denied, slim
from haproxy_guard.cli.commands import EXIT_FINDINGS, EXIT_OK, tool_version
from haproxy_guard.cli.manifests import Document
from haproxy_guard.cli.report import StreamedReport, render
from haproxy_guard.policies import engine
from haproxy_guard.policies.context import Context
from haproxy_guard.policies.haproxy.validator import Validator
from haproxy_guard.policies.model.findings import Severity
from haproxy_guard.policies.model.mounts import MOUNTER_KINDS, configuration_versions
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.workload import inspect_workload

REQUEST_TIMEOUT = 30


class ClusterError(Exception):
    """The cluster could not be read (exit 2)."""


PAGE_SIZE = 500
"""Objects per list call (`limit`; the rest follows with `continue`): a page is all the memory a list holds."""
CACHE_ENTRIES = 256
"""ConfigMaps and namespaces' PDB lists kept while reading (lists come sorted by namespace, so a few
namespaces at a time are enough)."""
WORKLOADS = (
    ("apps/v1", "Deployment", "/apis/apps/v1", "deployments"),
    ("apps/v1", "StatefulSet", "/apis/apps/v1", "statefulsets"),
    ("apps/v1", "DaemonSet", "/apis/apps/v1", "daemonsets"),
    ("v1", "Pod", "/api/v1", "pods"),
)
CONFIG_LABEL_SELECTOR = "haproxy-guard.io/config=true"
SPOOL_BYTES = 4 * 1024 * 1024
"""A streamed report is kept in memory up to this size, then in a temporary file until it is printed."""


class _ReadError(Exception):
    def __init__(self, status: int, reason: str | None) -> None:
        super().__init__(f"{status} {reason or ''}".strip())
        self.status, self.reason = status, f"{status} {reason or ''}".strip()


class _Api:
    """Raw JSON reads through the kubernetes client's configuration and TLS (no typed models: decoding a
    large list into them costs more than the audit), paginated, with small caches for what workloads mount."""

    def __init__(self, api: Any, namespace: str | None, image_patterns: tuple[str, ...] = ()) -> None:
        self.api, self.namespace = api, namespace
        self.image_patterns = image_patterns
        self.requests = 0
        self.mounts = functools.lru_cache(maxsize=CACHE_ENTRIES)(self._mounts)
        self.configmap = functools.lru_cache(maxsize=CACHE_ENTRIES)(self._configmap)
        self.pdbs = functools.lru_cache(maxsize=CACHE_ENTRIES)(self._pdbs)
        self.service = functools.lru_cache(maxsize=CACHE_ENTRIES)(self._service)
        self.autoscalers = functools.lru_cache(maxsize=CACHE_ENTRIES)(self._autoscalers)

    def get(self, path: str, query: list[tuple[str, Any]] | None = None) -> dict[str, Any]:
        self.requests += 1
        headers = {"Accept": "application/json"}
        if hasattr(self.api, "param_serialize"):  # kubernetes >= 34: the client serialises, then sends
            method, url, headers, body, post = self.api.param_serialize(
                "GET", path, query_params=query or [], header_params=headers, auth_settings=["BearerToken"]
            )
            response = self.api.call_api(method, url, headers, body, post, _request_timeout=REQUEST_TIMEOUT)
            data = response.read()
            if not 200 <= response.status < 300:
                raise _ReadError(response.status, response.reason)
        else:  # pragma: no cover - older clients
            data = self.api.call_api(
                path, "GET", query_params=query or [], header_params=headers, auth_settings=["BearerToken"],
                _preload_content=False, _return_http_data_only=True, _request_timeout=REQUEST_TIMEOUT,
            ).data  # fmt: skip
        value: dict[str, Any] = orjson.loads(data)
        return value

    def pages(
        self, group: str, resource: str, namespace: str | None, selector: str | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """The items of a list, page by page (`limit` + `continue`)."""
        path = f"{group}/namespaces/{namespace}/{resource}" if namespace else f"{group}/{resource}"
        token: str | None = None
        while True:
            query: list[tuple[str, Any]] = [("limit", PAGE_SIZE)]
            if token:
                query.append(("continue", token))
            if selector:
                query.append(("labelSelector", selector))
            page = self.get(path, query)
            yield page.get("items") or []
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return

    def _configmap(self, namespace: str | None, name: str) -> dict[str, Any] | None:
        try:
            found = self.get(f"/api/v1/namespaces/{namespace or 'default'}/configmaps/{name}")
        except Exception as error:
            if getattr(error, "status", None) == 404:
                return None
            raise
        return {"apiVersion": "v1", "kind": "ConfigMap", **found}

    def _pdbs(self, namespace: str | None) -> list[dict[str, Any]]:
        items = [
            item
            for page in self.pages("/apis/policy/v1", "poddisruptionbudgets", namespace or "default")
            for item in page
        ]
        return [{"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", **item} for item in items]

    def _service(self, namespace: str | None, name: str) -> dict[str, Any] | None:
        """The Service, or None when it does not exist or cannot be read (then unknown: the name rule decides)."""
        try:
            found = self.get(f"/api/v1/namespaces/{namespace or 'default'}/services/{name}")
        except Exception:
            return None
        return {"apiVersion": "v1", "kind": "Service", **found}

    def _autoscalers(self, namespace: str | None) -> tuple[dict[str, Any], ...]:
        try:
            return tuple(
                item
                for page in self.pages("/apis/autoscaling/v2", "horizontalpodautoscalers", namespace or "default")
                for item in page
            )
        except Exception:
            return ()

    def _mounts(self, namespace: str | None) -> dict[str, tuple[str | None, ...]] | None:
        """ConfigMap name -> the HAProxy versions of the namespace's workloads that mount it as configuration,
        as the webhook lists them (`webhook/stale.py`); None when they cannot be listed."""
        found: dict[str, list[str | None]] = {}
        try:
            for api_version, kind, group, resource in WORKLOADS:
                if kind not in MOUNTER_KINDS:
                    continue
                for page in self.pages(group, resource, namespace or "default"):
                    for item in page:
                        obj = {"apiVersion": api_version, "kind": kind, **item}
                        workload = inspect_workload(obj, self.image_patterns, namespace)
                        for name, versions in configuration_versions(workload).items() if workload else ():
                            found.setdefault(name, []).extend(versions)
        except Exception:
            return None
        return {name: tuple(versions) for name, versions in found.items()}

    def mounters(self, namespace: str | None, name: str) -> tuple[str | None, ...] | None:
        """The HAProxy versions of the containers that mount ConfigMap `name` (`Context.mounters`)."""
        mounts = self.mounts(namespace)
        return None if mounts is None else mounts.get(name, ())

    def autoscaler(self, namespace: str | None, kind: str, name: str) -> dict[str, Any] | None:
        """The HorizontalPodAutoscaler of the namespace that scales that workload."""
        for item in self.autoscalers(namespace):
            target = (item.get("spec") or {}).get("scaleTargetRef") or {}
            if target.get("kind") == kind and target.get("name") == name:
                return item
        return None


def stream_audit(
    api: Any,
    namespace: str | None,
    settings: Settings,
    validator: Validator | None,
    progress: bool = False,
    *,
    sink: Callable[[Audited], None] | None = None,
) -> tuple[list[Audited], int]:
    """Every HAProxy workload and HAProxy ConfigMap of the cluster (or namespace), evaluated as its page
    arrives: workloads from paginated lists (pods owned by a controller are left out: their controller is
    audited), the ConfigMaps they mount and their namespace's PDBs read on demand and cached, plus the
    ConfigMaps labelled `haproxy-guard.io/config`. Returns the slim results and the number of requests; with a
    `sink`, each result goes to it instead and the list stays empty (memory independent of the cluster's size)."""
    reader = _Api(api, namespace, settings.image_patterns)
    context = Context(validator, reader.configmap, reader.pdbs, reader.service, reader.autoscaler, reader.mounters)
    results: list[Audited] = []
    seen_configmaps: set[tuple[str | None, str]] = set()
    index = 0

    def evaluate(obj: dict[str, Any]) -> None:
        nonlocal index
        document = Document("cluster", index, obj)
        index += 1
        evaluation = engine.check(obj, settings, namespace=document.namespace, context=context)
        if evaluation.subject is not None:
            (sink or results.append)(slim(Audited(document, evaluation)))
        workload = evaluation.workload
        for mounted in workload.configs if workload is not None else ():
            key = (workload.namespace if workload else None, mounted.configmap.name)
            if key not in seen_configmaps:
                seen_configmaps.add(key)
                evaluate(mounted.configmap.obj)
        if progress and index % 100 == 0:
            print(f"\r{index} objects read", end="", file=sys.stderr, flush=True)

    try:
        for api_version, kind, group, resource in WORKLOADS:
            for page in reader.pages(group, resource, namespace):
                for item in page:
                    if kind == "Pod" and (item.get("metadata") or {}).get("ownerReferences"):
                        continue
                    evaluate({"apiVersion": api_version, "kind": kind, **item})
        for page in reader.pages("/api/v1", "configmaps", namespace, CONFIG_LABEL_SELECTOR):
            for item in page:
                metadata = item.get("metadata") or {}
                key = (metadata.get("namespace"), str(metadata.get("name")))
                if key not in seen_configmaps:
                    seen_configmaps.add(key)
                    evaluate({"apiVersion": "v1", "kind": "ConfigMap", **item})
    except ClusterError:
        raise
    except Exception as error:
        reason = getattr(error, "reason", None) or error
        raise ClusterError(f"cannot read the cluster: {reason}") from None
    if progress:
        print(f"\r{index} objects read", file=sys.stderr)
    return results, reader.requests


def namespaces(api: Any) -> list[str] | None:
    """The cluster's namespaces in the API's order (by name), or None when they cannot be listed (no `list`
    on namespaces: then the audit reads the cluster in one pass)."""
    reader = _Api(api, None)
    try:
        return [
            str((item.get("metadata") or {}).get("name"))
            for page in reader.pages("/api/v1", "namespaces", None)
            for item in page
        ]
    except Exception as error:
        if getattr(error, "status", None) in (401, 403, 404):
            return None
        raise ClusterError(f"cannot read the cluster: {getattr(error, 'reason', None) or error}") from None


def write_policy_reports(
    api: Any,
    namespace: str | None,
    settings: Settings,
    validator: Validator | None,
    out: IO[str],
    *,
    progress: bool = False,
) -> bool:
    """The PolicyReports as YAML documents, namespace by namespace: each namespace's results are held only
    until its report is written. Whether any finding is deny-level."""
    listed = [namespace] if namespace else namespaces(api)
    groups = [None] if listed is None else listed
    first, any_denied = True, False
    timestamp = _timestamp()
    for group in groups:
        results, _ = stream_audit(api, group, settings, validator, progress)
        any_denied = any_denied or denied(results)
        first = write_reports(results, out, timestamp, first)
    return any_denied


_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _timestamp() -> dict[str, int]:
    return {"seconds": int(datetime.datetime.now(datetime.UTC).timestamp()), "nanos": 0}


def _entries(result: Audited, timestamp: dict[str, int]) -> Iterator[dict[str, Any]]:
    """The PolicyReport results of one audited object: one per finding, or one `pass`."""
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
    for finding in result.findings:
        yield {
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
    if not result.findings:
        yield {"source": "haproxy-guard", "policy": "haproxy-guard", "rule": "all", "result": "pass",
               "message": "no findings", "scored": True, "timestamp": timestamp, "resources": [resource]}  # fmt: skip


def _head(namespace: str, results: Sequence[Audited]) -> dict[str, Any]:
    counts = {"pass": 0, "fail": 0, "warn": 0}
    for result in results:
        for finding in result.findings:
            counts["fail" if finding.severity is Severity.DENY else "warn"] += 1
        if not result.findings:
            counts["pass"] += 1
    return {
        "apiVersion": "wgpolicyk8s.io/v1alpha2",
        "kind": "PolicyReport",
        "metadata": {
            "name": "haproxy-guard",
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "haproxy-guard"},
        },
        "summary": {**counts, "error": 0, "skip": 0},
    }


def _by_namespace(results: Sequence[Audited]) -> list[tuple[str, list[Audited]]]:
    groups: dict[str, list[Audited]] = {}
    for result in results:
        subject = result.evaluation.subject
        assert subject is not None
        groups.setdefault(subject.namespace or "default", []).append(result)
    return sorted(groups.items(), key=lambda item: item[0])


def write_reports(results: Sequence[Audited], out: IO[str], timestamp: dict[str, int], first: bool = True) -> bool:
    """One wgpolicyk8s.io/v1alpha2 PolicyReport per namespace of `results`, as YAML documents (`---` before
    each but the very first), written entry by entry: what is held while writing is one entry, never a
    report's whole document (PyYAML's nodes for a namespace of thousands of objects would be most of the
    audit's memory). Whether the next document is still the first."""
    for namespace, group in _by_namespace(results):
        out.write(("" if first else "---\n") + yaml.dump(_head(namespace, group), Dumper=_DUMPER, sort_keys=False))
        out.write("results:\n")
        for result in group:
            for entry in _entries(result, timestamp):
                out.write(yaml.dump([entry], Dumper=_DUMPER, sort_keys=False))
        first = False
    return first


def policy_reports(results: Sequence[Audited]) -> list[dict[str, Any]]:
    """The PolicyReports of `results` as objects (what `write_reports` writes, parsed)."""
    timestamp = _timestamp()
    return [
        {**_head(namespace, group), "results": [entry for result in group for entry in _entries(result, timestamp)]}
        for namespace, group in _by_namespace(results)
    ]


def run_cluster_audit(
    settings: Settings, validator: Validator | None, output_format: str, namespace: str | None
) -> int:
    from haproxy_guard.webhook.cluster import api_client  # noqa: PLC0415

    api = api_client()
    if api is None:
        raise ClusterError("no Kubernetes API configuration found (kubeconfig or in-cluster service account)")
    progress = sys.stderr.isatty()
    if output_format in StreamedReport.FORMATS:
        # written as results arrive, to a spool (memory up to SPOOL_BYTES, then a temporary file), and copied
        # to stdout only once the whole cluster was read: a failure half-way prints no half report
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, mode="w+", encoding="utf-8") as spool:
            report = StreamedReport(output_format, tool_version(), spool, sys.stdout)
            stream_audit(api, namespace, settings, validator, progress, sink=report.add)
            report.finish()
            spool.seek(0)
            shutil.copyfileobj(spool, sys.stdout)
        print()
        return EXIT_FINDINGS if report.denied else EXIT_OK
    if output_format == "policyreport":
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, mode="w+", encoding="utf-8") as spool:
            found = write_policy_reports(api, namespace, settings, validator, spool, progress=progress)
            spool.seek(0)
            shutil.copyfileobj(spool, sys.stdout)
        return EXIT_FINDINGS if found else EXIT_OK
    results, _ = stream_audit(api, namespace, settings, validator, progress)
    print(render(results, output_format, tool_version(), sys.stdout))
    return EXIT_FINDINGS if denied(results) else EXIT_OK
