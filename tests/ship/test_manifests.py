"""The manifests: every kustomize overlay (a real kubectl kustomize) and every Helm chart variant (a real `helm
template`) validates against the Kubernetes OpenAPI schemas of two minor versions, keeps the webhook
configurations' safety properties, and passes the project's own policies and Pod Security "restricted"."""

from __future__ import annotations

import tomllib
from typing import Any

import kubernetes_validate
import pytest
import yaml

from haproxy_guard.cli.audit import audit
from haproxy_guard.cli.manifests import parse_text
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.settings_file import parse_settings
from tests.helpers import KUBERNETES_SCHEMA_VERSIONS, ROOT
from tests.ship.rendering import CHART_VARIANTS, render

OVERLAYS = ["base", "overlays/cert-manager", "overlays/self-signed", "overlays/audit", "overlays/api-server-only"]
SOURCES = [*OVERLAYS, *CHART_VARIANTS]
EXCLUDED = {"kube-system", "kube-node-lease", "haproxy-guard"}
CRD_GROUPS = ("cert-manager.io/", "monitoring.coreos.com/")  # not in the Kubernetes schemas: checked for shape only


def _one(objects: list[dict[str, Any]], kind: str, name: str = "haproxy-guard") -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}"
    return found[0]


@pytest.mark.parametrize("overlay", SOURCES)
def test_every_object_is_valid(overlay: str) -> None:
    for obj in render(overlay):
        if obj["apiVersion"].startswith(CRD_GROUPS):
            assert obj["metadata"]["name"] and isinstance(obj.get("spec"), dict)
            continue
        for version in KUBERNETES_SCHEMA_VERSIONS:
            kubernetes_validate.validate(obj, version, strict=True)


@pytest.mark.parametrize("overlay", SOURCES)
def test_webhook_configurations_are_safe(overlay: str) -> None:
    objects = render(overlay)
    settings = parse_settings(
        yaml.safe_load(_one(objects, "ConfigMap", "haproxy-guard-settings")["data"]["settings.yaml"])
    )
    service = _one(objects, "Service")
    mutating = _one(objects, "MutatingWebhookConfiguration")["webhooks"]
    validating = _one(objects, "ValidatingWebhookConfiguration")["webhooks"]
    expected_policy = {
        "workloads.mutate.haproxy-guard.io": "Ignore",
        "labelled-configmaps.validate.haproxy-guard.io": "Fail",
        "configmaps.validate.haproxy-guard.io": "Ignore",
        "workloads.validate.haproxy-guard.io": "Ignore",
    }
    assert {w["name"] for w in mutating + validating} == set(expected_policy)
    for webhook in mutating + validating:
        assert webhook["sideEffects"] == "None", "server-side dry-run must work"
        assert webhook["admissionReviewVersions"] == ["v1"]
        assert webhook["failurePolicy"] == expected_policy[webhook["name"]]
        assert 1 <= webhook["timeoutSeconds"] <= 5, "well under the API server's 10 s"
        expressions = webhook["namespaceSelector"]["matchExpressions"]
        excluded = next(e for e in expressions if e["key"] == "kubernetes.io/metadata.name")
        assert excluded["operator"] == "NotIn" and set(excluded["values"]) == EXCLUDED
        assert {"key": "haproxy-guard.io/ignore", "operator": "DoesNotExist"} in expressions
        client = webhook["clientConfig"]["service"]
        assert (client["name"], client["namespace"]) == (service["metadata"]["name"], service["metadata"]["namespace"])
        assert client["port"] in {p["port"] for p in service["spec"]["ports"]}
        for rule in webhook["rules"]:
            assert set(rule["operations"]) <= {"CREATE", "UPDATE"}
            assert set(rule["resources"]) <= {"deployments", "statefulsets", "daemonsets", "pods", "configmaps"}
    assert [w["clientConfig"]["service"]["path"] for w in mutating] == ["/mutate"]
    assert {w["clientConfig"]["service"]["path"] for w in validating} == {"/validate"}
    assert mutating[0]["reinvocationPolicy"] == "IfNeeded"
    pod_rule = next(r for r in mutating[0]["rules"] if r["resources"] == ["pods"])
    assert pod_rule["operations"] == ["CREATE"], "pods are only mutated on CREATE"
    for webhook in validating:
        if "configmaps" in webhook["rules"][0]["resources"]:
            assert webhook["timeoutSeconds"] > settings.validator_timeout_seconds, "the validator's limit comes first"
    labelled = next(w for w in validating if w["name"].startswith("labelled-"))
    assert labelled["objectSelector"] == {"matchLabels": {"haproxy-guard.io/config": "true"}}
    other = next(w for w in validating if w["name"].startswith("configmaps."))
    assert other["objectSelector"]["matchExpressions"] == [
        {"key": "haproxy-guard.io/config", "operator": "NotIn", "values": ["true"]}
    ]


@pytest.mark.parametrize(
    ("cert_manager_source", "self_signed_source"),
    [("overlays/cert-manager", "overlays/self-signed"), ("chart:cert-manager", "chart")],
)
def test_certificate_sources(cert_manager_source: str, self_signed_source: str) -> None:
    cert_manager = render(cert_manager_source)
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        annotation = _one(cert_manager, kind)["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
        assert annotation == "haproxy-guard/haproxy-guard-serving"
    serving = _one(cert_manager, "Certificate", "haproxy-guard-serving")["spec"]
    assert serving["secretName"] == "haproxy-guard-tls"
    assert set(serving["dnsNames"]) == {
        "haproxy-guard",
        "haproxy-guard.haproxy-guard",
        "haproxy-guard.haproxy-guard.svc",
    }
    self_signed = render(self_signed_source)
    for kind in ("Job", "CronJob"):
        found = [
            o
            for o in self_signed
            if o["kind"] == kind
            and o["metadata"]["name"].startswith("haproxy-guard-certs-init" if kind == "Job" else "haproxy-guard-certs")
        ]
        assert len(found) == 1, kind
        obj = found[0]
        pod = (
            obj["spec"]["template"]["spec"] if kind == "Job" else obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        )
        args = pod["containers"][0]["args"]
        assert args[:2] == ["certs", "rotate"] and "--secret=haproxy-guard-tls" in args
        assert "--webhook-configuration=haproxy-guard" in args
    role = _one(self_signed, "ClusterRole", "haproxy-guard-certs")
    assert role["rules"][0]["resourceNames"] == ["haproxy-guard"] and set(role["rules"][0]["verbs"]) == {"get", "patch"}


@pytest.mark.parametrize("source", ["overlays/audit", "chart:audit"])
def test_audit_overlay_denies_nothing(source: str) -> None:
    settings = yaml.safe_load(_one(render(source), "ConfigMap", "haproxy-guard-settings")["data"]["settings.yaml"])
    assert parse_settings(settings).mode == "audit"


def _granted(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (resource, verb, ",".join(rule.get("resourceNames", [])))
        for rule in role["rules"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


ROLLOUTS = {
    ("configmaps", "list", ""), ("configmaps", "watch", ""), ("namespaces", "get", ""), ("events", "create", ""),
    *((kind, verb, "") for kind in ("deployments", "statefulsets", "daemonsets") for verb in ("get", "list", "watch", "patch")),
}  # fmt: skip


@pytest.mark.parametrize("source", SOURCES)
def test_rbac_is_least_privilege(source: str) -> None:
    """The webhook reads ConfigMaps and lists PDBs, nothing else; the rollout controller (unless turned off)
    watches ConfigMaps and the three workload kinds, patches only the workloads, reads namespaces, creates
    Events, and creates its Lease, then reads and renews it by name only, in its own namespace."""
    objects = render(source)
    assert _granted(_one(objects, "ClusterRole", "haproxy-guard-webhook")) == {
        ("configmaps", "get", ""), ("poddisruptionbudgets", "list", "")}  # fmt: skip
    cluster_roles = {o["metadata"]["name"] for o in objects if o["kind"] == "ClusterRole"}
    roles = [o for o in objects if o["kind"] == "Role"]
    if source == "chart:no-rollout-controller":
        assert "haproxy-guard-rollouts" not in cluster_roles
        assert "haproxy-guard-rollouts-lease" not in {role["metadata"]["name"] for role in roles}
        settings = yaml.safe_load(_one(objects, "ConfigMap", "haproxy-guard-settings")["data"]["settings.yaml"])
        assert parse_settings(settings).rollout_controller.enabled is False
        stale = _one(objects, "ClusterRole", "haproxy-guard-stale-workloads")
        assert _granted(stale) == {(kind, "list", "") for kind in ("deployments", "statefulsets", "daemonsets")}
        return
    assert "haproxy-guard-stale-workloads" not in cluster_roles
    assert _granted(_one(objects, "ClusterRole", "haproxy-guard-rollouts")) == ROLLOUTS
    lease = _one(objects, "Role", "haproxy-guard-rollouts-lease")
    assert lease["metadata"]["namespace"] == "haproxy-guard"
    assert _granted(lease) == {("leases", "create", ""), ("leases", "get", "haproxy-guard-rollouts"),
                               ("leases", "update", "haproxy-guard-rollouts")}  # fmt: skip
    for kind, name in (
        ("ClusterRoleBinding", "haproxy-guard-rollouts"),
        ("RoleBinding", "haproxy-guard-rollouts-lease"),
    ):
        subjects = _one(objects, kind, name)["subjects"]
        assert subjects == [{"kind": "ServiceAccount", "name": "haproxy-guard", "namespace": "haproxy-guard"}]


def _pod_specs(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    specs = []
    for obj in objects:
        if obj["kind"] in {"Deployment", "Job"}:
            specs.append((obj["metadata"]["name"], obj["spec"]["template"]["spec"]))
        elif obj["kind"] == "CronJob":
            specs.append((obj["metadata"]["name"], obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]))
    return specs


@pytest.mark.parametrize("overlay", SOURCES)
def test_pod_security_restricted(overlay: str) -> None:
    """The "restricted" profile's rules (kubernetes.io, Pod Security Standards), checked field by field."""
    allowed_volumes = {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
    for name, pod in _pod_specs(render(overlay)):
        assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC"), name
        for volume in pod.get("volumes", []):
            assert set(volume) - {"name"} <= allowed_volumes, f"{name}: volume type"
        pod_security = pod.get("securityContext", {})
        for container in pod["containers"] + pod.get("initContainers", []):
            security = container.get("securityContext", {})
            assert security.get("runAsNonRoot", pod_security.get("runAsNonRoot")) is True, name
            assert security.get("allowPrivilegeEscalation") is False, name
            assert not security.get("privileged"), name
            assert security["capabilities"]["drop"] == ["ALL"] and set(security["capabilities"].get("add", [])) <= {
                "NET_BIND_SERVICE"
            }, name
            profile = security.get("seccompProfile", pod_security.get("seccompProfile", {}))
            assert profile.get("type") in {"RuntimeDefault", "Localhost"}, name
            assert security.get("readOnlyRootFilesystem") is True, f"{name}: read-only root filesystem"
            assert all("hostPort" not in port for port in container.get("ports", [])), name


@pytest.mark.parametrize("source", ["base", "chart"])
def test_own_workload_passes_its_own_policies(source: str) -> None:
    """The webhook's Deployment judged as if it were an HAProxy workload: the rollout, shutdown and PDB
    rules apply to any proxy-like server."""
    text = yaml.safe_dump_all(render(source))
    results = audit(parse_text(text, "rendered.yaml"), Settings(image_patterns=("haproxy-guard",)), None)
    deployment = next(r for r in results if r.document.obj["kind"] == "Deployment")
    assert deployment.evaluation.subject is not None, "the pattern makes it a subject"
    # One finding does not apply, by design: the checker container takes no traffic and must not gate the pod's
    # readiness (while it restarts the webhook answers "not checked"; a probe there would turn a hostile check
    # into an outage). kube-root-ca.crt (the API server's CA in the token volume) is never reported.
    by_design = {("readiness-probe", "container checker ")}
    findings = [
        f for f in deployment.findings if not any(f.policy == p and f.message.startswith(m) for p, m in by_design)
    ]
    assert [f"{f.policy}: {f.message}" for f in findings] == []
    assert len(deployment.findings) - len(findings) == len(by_design)


@pytest.mark.parametrize("overlay", SOURCES)
def test_metrics_have_their_own_port_behind_a_network_policy(overlay: str) -> None:
    objects = render(overlay)
    deployment = _one(objects, "Deployment", "haproxy-guard")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert "--metrics-port=9090" in container["args"]
    assert {"name": "metrics", "containerPort": 9090} in container["ports"]
    service = _one(objects, "Service", "haproxy-guard-metrics")
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 9090, "targetPort": "metrics"}]
    policy = _one(objects, "NetworkPolicy", "haproxy-guard")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert all(labels.get(key) == value for key, value in policy["spec"]["podSelector"]["matchLabels"].items())
    rules = policy["spec"]["ingress"]
    metrics_rule = next(rule for rule in rules if rule["ports"][0]["port"] == "metrics")
    assert metrics_rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    webhook_rule = next(rule for rule in rules if rule["ports"][0]["port"] == "https")
    if overlay in {"overlays/api-server-only", "chart:api-server-only"}:
        assert webhook_rule["from"] == [{"ipBlock": {"cidr": "192.0.2.0/24"}}], "only the API server's range"
    else:
        assert "from" not in webhook_rule, "the API server's addresses are cluster-specific"


@pytest.mark.parametrize("source", SOURCES)
def test_every_image_is_the_projects_version(source: str) -> None:
    """A pinned tag, never `latest` (Polaris's tagNotSpecified, kube-score's container-image-tag)."""
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    images = {container["image"] for _, pod in _pod_specs(render(source)) for container in pod["containers"]}
    assert images == {f"haproxy-guard:{version}"}


TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"


@pytest.mark.parametrize("overlay", SOURCES)
def test_checks_run_in_a_container_with_nothing_to_steal(overlay: str) -> None:
    """Privilege separation in every overlay and chart variant (security issue 27): the checker container
    gets no service-account token, no serving key, no process of the webhook's to see; it has its own
    memory and CPU limits and a read-only root; the two talk over a socket on a shared emptyDir only."""
    deployment = _one(render(overlay), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    containers = {container["name"]: container for container in pod["containers"]}
    assert set(containers) == {"webhook", "checker"}
    webhook, checker = containers["webhook"], containers["checker"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert pod.get("automountServiceAccountToken") is False, "no token is mounted by default"
    assert not pod.get("shareProcessNamespace"), "the checker must not see the webhook's processes"
    assert not pod.get("hostPID") and not pod.get("hostIPC") and not pod.get("hostNetwork")

    def mounted(container: dict[str, Any]) -> dict[str, str]:
        return {mount["mountPath"]: mount["name"] for mount in container.get("volumeMounts", [])}

    token = mounted(webhook).get(TOKEN_PATH)
    assert token is not None and "serviceAccountToken" in str(volumes[token]), "the webhook keeps its token"
    for path, name in mounted(checker).items():
        volume = volumes[name]
        assert "secret" not in volume and "projected" not in volume, f"checker mounts {name} at {path}"
        assert path != TOKEN_PATH
    assert not checker.get("envFrom") and all("valueFrom" not in env for env in checker.get("env", []))
    shared = set(mounted(webhook).values()) & set(mounted(checker).values())
    assert {name for name in shared if "emptyDir" in volumes[name]} == {"checker-socket"}
    socket_dir = next(path for path, name in mounted(checker).items() if name == "checker-socket")
    assert f"--checker-socket={socket_dir}/checker.sock" in webhook["args"]
    assert checker["args"][:2] == ["checker", f"--socket={socket_dir}/checker.sock"]
    assert checker["image"] == webhook["image"], "the same image"
    limits = checker["resources"]["limits"]
    assert limits.get("memory") and limits.get("cpu"), "its own limits: exhausting them kills the checker only"
    security = checker["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
