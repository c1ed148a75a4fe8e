"""Shared test helpers: golden inputs, AdmissionReview builders, patch application and schema checks."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonpatch
import kubernetes_validate
import yaml

from haproxy_guard.policies.context import Context
from haproxy_guard.policies.haproxy.validator import Validator

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
KUBERNETES_SCHEMA_VERSIONS = ("1.30.0", "1.37.0")

GROUPS = {"v1": ("", "v1"), "apps/v1": ("apps", "v1")}


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def golden_inputs() -> list[Path]:
    return sorted(GOLDEN.glob("*/*/input.yaml"))


def golden_config_source(case: Path) -> Callable[[str | None, str], dict[str, Any] | None]:
    """A config source serving the case's `configmaps.yaml` (an empty source when absent)."""
    listed = case / "configmaps.yaml"
    configmaps: list[dict[str, Any]] = load_yaml(listed) if listed.exists() else []

    def source(namespace: str | None, name: str) -> dict[str, Any] | None:
        for configmap in configmaps:
            metadata = configmap["metadata"]
            if metadata["name"] == name and metadata.get("namespace") in (None, namespace):
                return configmap
        return None

    return source


def golden_context(case: Path, validator: Validator | None) -> Context:
    """The case's surroundings: its ConfigMaps and, when `pdbs.yaml` exists, its PDBs; the Services of
    `services.yaml` and HorizontalPodAutoscalers of `autoscalers.yaml` (lists) when they exist."""
    listed = case / "pdbs.yaml"
    pdbs: list[dict[str, Any]] | None = load_yaml(listed) if listed.exists() else None

    def pdb_source(namespace: str | None) -> list[dict[str, Any]] | None:
        if pdbs is None:
            return None
        return [pdb for pdb in pdbs if pdb["metadata"].get("namespace") in (None, namespace)]

    listed_services = case / "services.yaml"
    services: list[dict[str, Any]] = load_yaml(listed_services) if listed_services.exists() else []

    def service_source(namespace: str | None, name: str) -> dict[str, Any] | None:
        return next(
            (
                s
                for s in services
                if s["metadata"]["name"] == name and s["metadata"].get("namespace") in (None, namespace)
            ),
            None,
        )

    listed_autoscalers = case / "autoscalers.yaml"
    autoscalers: list[dict[str, Any]] = load_yaml(listed_autoscalers) if listed_autoscalers.exists() else []

    def autoscaler_source(namespace: str | None, kind: str, name: str) -> dict[str, Any] | None:
        targets = ((a, a["spec"]["scaleTargetRef"]) for a in autoscalers)
        return next((a for a, target in targets if (target["kind"], target["name"]) == (kind, name)), None)

    return Context(
        validator,
        golden_config_source(case),
        pdb_source,
        service_source if listed_services.exists() else None,
        autoscaler_source if listed_autoscalers.exists() else None,
    )


def golden_id(path: Path) -> str:
    return f"{path.parent.parent.name}/{path.parent.name}"


def review(
    obj: dict[str, Any] | None,
    operation: str = "CREATE",
    *,
    uid: str | None = None,
    dry_run: bool = False,
    old: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An AdmissionReview as the API server sends it."""
    source = obj or old or {}
    group, version = GROUPS.get(str(source.get("apiVersion")), ("", "v1"))
    request: dict[str, Any] = {
        "uid": uid or str(uuid.uuid4()),
        "kind": {"group": group, "version": version, "kind": source.get("kind", "ConfigMap")},
        "resource": {"group": group, "version": version, "resource": str(source.get("kind", "")).lower() + "s"},
        "namespace": source.get("metadata", {}).get("namespace", "default"),
        "name": source.get("metadata", {}).get("name"),
        "operation": operation,
        "userInfo": {"username": "tester"},
        "object": obj,
        "oldObject": old,
        "dryRun": dry_run,
    }
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def decoded_patch(response: dict[str, Any]) -> list[dict[str, Any]] | None:
    if "patch" not in response:
        assert "patchType" not in response
        return None
    assert response["patchType"] == "JSONPatch"
    patch: list[dict[str, Any]] = json.loads(base64.b64decode(response["patch"]))
    return patch


def apply_patch(obj: dict[str, Any], patch: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Apply with the `jsonpatch` library (a real RFC 6902 implementation), never touching `obj`."""
    if patch is None:
        return obj
    result: dict[str, Any] = jsonpatch.JsonPatch(patch).apply(obj, in_place=False)
    return result


STOP_SIGNAL_SINCE = (1, 33)
"""`lifecycle.stopSignal` (KEP-4960) exists from Kubernetes 1.33: older schemas reject it."""


def assert_valid_kubernetes(obj: dict[str, Any]) -> None:
    """The object validates (strictly: no unknown fields) against the Kubernetes OpenAPI schemas (an object
    using `lifecycle.stopSignal` against those that have the field)."""
    uses_stop_signal = '"stopSignal"' in json.dumps(obj)
    for version in KUBERNETES_SCHEMA_VERSIONS:
        if uses_stop_signal and tuple(int(part) for part in version.split(".")[:2]) < STOP_SIGNAL_SINCE:
            continue
        kubernetes_validate.validate(obj, version, strict=True)
