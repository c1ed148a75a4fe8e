"""The Helm chart: `helm lint` for every certificate mode, the same objects as kustomize for the same choices,
values.schema.json refusing typos (its settings part generated from the model), Helm-generated certificates
that verify, and every value reaching the object it names. The objects' schema validity, safety and Pod
Security checks run on the chart variants in test_manifests.py."""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import subprocess
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from haproxy_guard.policies.registry import POLICY_IDS
from haproxy_guard.policies.settings_file import parse_settings
from tests.helpers import ROOT
from tests.ship.rendering import CHART, comparable, helm, render_chart, render_kustomize

PROMTOOL = ROOT / ".cache" / "tools" / "promtool"
WEBHOOK_KINDS = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")


def _one(objects: list[dict[str, Any]], kind: str, name: str = "haproxy-guard") -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {[(o['kind'], o['metadata']['name']) for o in objects]}"
    return found[0]


def _webhooks(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    configurations = [o for o in objects if o["kind"] in WEBHOOK_KINDS]
    assert sorted(o["kind"] for o in configurations) == sorted(WEBHOOK_KINDS)
    return [webhook for configuration in configurations for webhook in configuration["webhooks"]]


def _refused(*args: str) -> str:
    result = helm("template", "haproxy-guard", str(CHART), *args, check=False)
    assert result.returncode != 0, f"{args} was accepted"
    return result.stderr


@pytest.mark.parametrize("mode", ["self-signed", "cert-manager", "helm"])
def test_helm_lint_passes_in_every_certificate_mode(mode: str) -> None:
    linted = helm("lint", "--strict", str(CHART), "--set", f"certificates.mode={mode}", check=False)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in linted.stdout


@pytest.mark.parametrize(
    ("overlay", "values"),
    [
        ("overlays/self-signed", ()),
        ("overlays/cert-manager", ("--set", "certificates.mode=cert-manager")),
        ("overlays/audit", ("--set", "settings.mode=audit")),
        ("overlays/api-server-only", ("--set", "networkPolicy.webhookFrom[0].ipBlock.cidr=192.0.2.0/24")),
    ],
)
def test_the_chart_renders_what_kustomize_renders_for_the_same_choices(overlay: str, values: tuple[str, ...]) -> None:
    """Object for object, field for field. The kustomize Namespace is the one object the chart leaves out:
    Helm needs the release namespace before it installs anything (`--create-namespace`)."""
    chart = comparable(render_chart(*values))
    kustomize = comparable([o for o in render_kustomize(overlay) if o["kind"] != "Namespace"])
    assert sorted(chart) == sorted(kustomize)
    for key, obj in kustomize.items():
        assert chart[key] == obj, key


def test_the_chart_version_is_the_project_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["version"] == project and chart["appVersion"] == project


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ("replicas=two", "/replicas"),
        ("replicaCount=3", "replicaCount"),
        ("image.tags=1.0", "tags"),
        ("settings.mode=enforced", "/settings/mode"),
        ("settings.preStopSecond=10", "preStopSecond"),
        ("settings.preStopSeconds=0", "/settings/preStopSeconds"),
        ("settings.validatorSandbox=off", "/settings/validatorSandbox"),
        ("settings.policies.prestop-wiat=deny", "prestop-wiat"),
        ("settings.policies.prestop-wait=block", "/settings/policies/prestop-wait"),
        ("certificates.mode=vault", "/certificates/mode"),
        ("certificates.ipAddresses[0]=not-an-ip", "/certificates/ipAddresses/0"),
        ("webhooks.mutate.failurePolicy=ignore", "/webhooks/mutate/failurePolicy"),
        ("webhooks.validateWorkloads.timeoutSeconds=31", "/webhooks/validateWorkloads/timeoutSeconds"),
        ("webhooks.url=http://127.0.0.1:8443", "/webhooks/url"),
        ("metrics.serviceMonitor.enable=true", "enable"),
        ("image.digest=latest", "/image/digest"),
    ],
)
def test_the_values_schema_refuses_a_typo_or_a_wrong_type(value: str, where: str) -> None:
    error = _refused("--set", value)
    assert "values don't meet the specifications of the schema" in error and where in error, error


def test_the_values_schema_accepts_every_policy_id_and_severity() -> None:
    args = [arg for number, policy in enumerate(sorted(POLICY_IDS))
            for arg in ("--set", f"settings.policies.{policy}={('deny', 'warn', 'off')[number % 3]}")]  # fmt: skip
    settings = _one(render_chart(*args), "ConfigMap", "haproxy-guard-settings")["data"]["settings.yaml"]
    parsed = parse_settings(yaml.safe_load(settings))
    assert set(parsed.policies) == POLICY_IDS


def test_the_settings_schema_is_generated_from_the_model() -> None:
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "update-chart-schema.py"), "--check"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert set(schema["properties"]["settings"]["properties"]["policies"]["propertyNames"]["enum"]) == POLICY_IDS


def test_the_default_settings_are_valid_settings() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert parse_settings(values["settings"]).mode == "enforce"


def test_a_validator_limit_at_or_above_the_configmap_timeout_is_refused() -> None:
    error = _refused("--set", "settings.validatorTimeoutSeconds=5")
    assert (
        "webhooks.validateLabelledConfigMaps.timeoutSeconds (5) must be above settings.validatorTimeoutSeconds" in error
    )
    assert render_chart("--set-json", "settings.validatorTimeoutSeconds=4.5")  # --set passes fractions as text


def _verify(certificate: x509.Certificate, issuer: x509.Certificate) -> None:
    key = issuer.public_key()
    signature_hash = certificate.signature_hash_algorithm
    assert signature_hash is not None
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(certificate.signature, certificate.tbs_certificate_bytes, padding.PKCS1v15(), signature_hash)
    else:
        assert isinstance(key, ec.EllipticCurvePublicKey)
        key.verify(certificate.signature, certificate.tbs_certificate_bytes, ec.ECDSA(signature_hash))


def test_helm_generated_certificates_verify_and_are_the_caBundle() -> None:
    objects = render_chart(
        "--set", "certificates.mode=helm", "--set", "certificates.helm.validityDays=30",
        "--set", "certificates.ipAddresses[0]=127.0.0.1", "--set", "certificates.dnsNames[0]=guard.example",
        release="guard", namespace="edge",
    )  # fmt: skip
    secret = _one(objects, "Secret", "guard-haproxy-guard-tls")
    assert secret["type"] == "kubernetes.io/tls"
    data = {key: base64.b64decode(value) for key, value in secret["data"].items()}
    ca = x509.load_pem_x509_certificate(data["ca.crt"])
    serving = x509.load_pem_x509_certificate(data["tls.crt"])
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert serving.issuer == ca.subject
    _verify(serving, ca)
    names = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(names.get_values_for_type(x509.DNSName)) == {
        "guard-haproxy-guard", "guard-haproxy-guard.edge", "guard-haproxy-guard.edge.svc", "guard.example",
    }  # fmt: skip
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    usages = serving.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usages
    lifetime = serving.not_valid_after_utc - datetime.now(UTC)
    assert timedelta(days=29) < lifetime <= timedelta(days=30)
    key = data["tls.key"].decode()
    assert key.startswith("-----BEGIN") and "PRIVATE KEY" in key
    for webhook in _webhooks(objects):
        assert base64.b64decode(webhook["clientConfig"]["caBundle"]) == data["ca.crt"], webhook["name"]
    deployment = _one(objects, "Deployment", "guard-haproxy-guard")
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "certs")
    assert volume["secret"]["secretName"] == "guard-haproxy-guard-tls"
    assert not [o for o in objects if o["kind"] in {"Job", "CronJob", "Certificate"}]


def test_other_certificate_modes_leave_the_caBundle_to_their_issuer() -> None:
    for args in ((), ("--set", "certificates.mode=cert-manager")):
        objects = render_chart(*args)
        assert not [o for o in objects if o["kind"] == "Secret"], "the Secret is written by rotate or cert-manager"
        assert all("caBundle" not in webhook["clientConfig"] for webhook in _webhooks(objects))


def test_extra_certificate_names_reach_every_issuer() -> None:
    extra = ("--set", "certificates.dnsNames[0]=guard.example", "--set", "certificates.ipAddresses[0]=10.0.0.5")
    job = next(o for o in render_chart(*extra) if o["kind"] == "Job")
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--dns=guard.example" in args and "--ip=10.0.0.5" in args
    certificate = _one(
        render_chart(*extra, "--set", "certificates.mode=cert-manager"), "Certificate", "haproxy-guard-serving"
    )["spec"]
    assert certificate["dnsNames"][-1] == "guard.example" and certificate["ipAddresses"] == ["10.0.0.5"]


def test_cert_manager_with_an_existing_issuer_leaves_out_the_charts_own_ca() -> None:
    objects = render_chart(
        "--set", "certificates.mode=cert-manager", "--set", "certificates.certManager.issuerRef.name=corp-ca",
        "--set", "certificates.certManager.issuerRef.kind=ClusterIssuer",
    )  # fmt: skip
    assert [o["metadata"]["name"] for o in objects if o["apiVersion"].startswith("cert-manager.io/")] == [
        "haproxy-guard-serving"
    ]
    serving = _one(objects, "Certificate", "haproxy-guard-serving")["spec"]
    assert serving["issuerRef"] == {"name": "corp-ca", "kind": "ClusterIssuer"}


def test_webhook_values_reach_each_webhook() -> None:
    objects = render_chart(
        "--set", "webhooks.mutate.failurePolicy=Fail", "--set", "webhooks.mutate.timeoutSeconds=7",
        "--set", "webhooks.validateLabelledConfigMaps.failurePolicy=Ignore",
        "--set", "webhooks.validateConfigMaps.timeoutSeconds=9",
        "--set", "webhooks.validateWorkloads.failurePolicy=Fail",
        "--set", "webhooks.excludedNamespaces={kube-system,tenants-system}",
        "--set", "webhooks.namespaceSelector.matchLabels.team=edge",
        "--set", "webhooks.objectSelector.matchExpressions[0].key=guard.example/skip",
        "--set", "webhooks.objectSelector.matchExpressions[0].operator=DoesNotExist",
        namespace="guard-system",
    )  # fmt: skip
    by_name = {webhook["name"]: webhook for webhook in _webhooks(objects)}
    assert {name: (w["failurePolicy"], w["timeoutSeconds"]) for name, w in by_name.items()} == {
        "workloads.mutate.haproxy-guard.io": ("Fail", 7),
        "labelled-configmaps.validate.haproxy-guard.io": ("Ignore", 5),
        "configmaps.validate.haproxy-guard.io": ("Ignore", 9),
        "workloads.validate.haproxy-guard.io": ("Fail", 5),
    }
    skip = {"key": "guard.example/skip", "operator": "DoesNotExist"}
    for name, webhook in by_name.items():
        selector = webhook["namespaceSelector"]
        assert selector["matchLabels"] == {"team": "edge"}
        assert selector["matchExpressions"][0]["values"] == ["kube-system", "tenants-system", "guard-system"]
        assert {"key": "haproxy-guard.io/ignore", "operator": "DoesNotExist"} in selector["matchExpressions"]
        assert skip in webhook["objectSelector"]["matchExpressions"], name
        assert webhook["clientConfig"]["service"]["namespace"] == "guard-system"
    labelled = by_name["labelled-configmaps.validate.haproxy-guard.io"]["objectSelector"]
    assert labelled["matchLabels"] == {"haproxy-guard.io/config": "true"}, "its own selector is kept"
    other = by_name["configmaps.validate.haproxy-guard.io"]["objectSelector"]["matchExpressions"]
    assert other[0] == {"key": "haproxy-guard.io/config", "operator": "NotIn", "values": ["true"]}


def test_a_url_replaces_the_service_in_every_webhook() -> None:
    objects = render_chart("--set", "webhooks.url=https://guard.example:8443/")
    for webhook in _webhooks(objects):
        client = webhook["clientConfig"]
        assert "service" not in client
        assert client["url"] in {"https://guard.example:8443/mutate", "https://guard.example:8443/validate"}


def test_workload_values_reach_the_deployment() -> None:
    objects = render_chart(
        "--set", "image.repository=registry.example/haproxy-guard", "--set", f"image.digest=sha256:{'a' * 64}",
        "--set", "replicas=3", "--set", "priorityClassName=", "--set", "podDisruptionBudget.enabled=false",
        "--set", "networkPolicy.enabled=false", "--set", "metrics.port=9191", "--set", "preStopSeconds=15",
        "--set", "terminationGracePeriodSeconds=60", "--set", "nodeSelector.pool=edge",
        "--set", "topologySpreadConstraints[0].maxSkew=2",
        "--set", "topologySpreadConstraints[0].topologyKey=topology.kubernetes.io/zone",
        "--set", "topologySpreadConstraints[0].whenUnsatisfiable=DoNotSchedule",
    )  # fmt: skip
    kinds = {o["kind"] for o in objects}
    assert "PodDisruptionBudget" not in kinds and "NetworkPolicy" not in kinds
    deployment = _one(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == f"registry.example/haproxy-guard@sha256:{'a' * 64}"
    assert deployment["spec"]["replicas"] == 3 and "priorityClassName" not in pod
    assert (
        "--metrics-port=9191" in container["args"] and {"name": "metrics", "containerPort": 9191} in container["ports"]
    )
    assert container["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "15"]
    assert pod["terminationGracePeriodSeconds"] == 60 and pod["nodeSelector"] == {"pool": "edge"}
    (spread,) = pod["topologySpreadConstraints"]
    assert (
        spread["maxSkew"] == 2
        and spread["labelSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    )
    assert _one(objects, "Service", "haproxy-guard-metrics")["spec"]["ports"][0]["port"] == 9191


def test_a_settings_change_rolls_the_pods() -> None:
    """The webhook reads its settings at start: the pod template carries their checksum."""

    def checksum(*args: str) -> str:
        template = _one(render_chart(*args), "Deployment")["spec"]["template"]
        return str(template["metadata"]["annotations"]["checksum/settings"])

    assert checksum() != checksum("--set", "settings.mode=audit")
    assert checksum() == checksum("--set", "replicas=3")


def _monitoring(*args: str) -> list[dict[str, Any]]:
    return render_chart(
        "--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.prometheusRule.enabled=true",
        "--set", "metrics.dashboard.enabled=true", *args,
    )  # fmt: skip


def test_monitoring_objects_are_off_by_default() -> None:
    kinds = {o["kind"] for o in render_chart()}
    assert not kinds & {"ServiceMonitor", "PrometheusRule"}
    assert not [o for o in render_chart() if o["metadata"]["name"].endswith("-dashboard")]


def test_the_service_monitor_scrapes_the_metrics_service() -> None:
    objects = _monitoring("--set", "metrics.serviceMonitor.labels.release=prometheus")
    monitor = _one(objects, "ServiceMonitor")
    service = _one(objects, "Service", "haproxy-guard-metrics")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    wanted = monitor["spec"]["selector"]["matchLabels"]
    assert all(service["metadata"]["labels"].get(key) == value for key, value in wanted.items())
    assert not all(_one(objects, "Service")["metadata"]["labels"].get(k) == v for k, v in wanted.items())
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "30s"}]
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["haproxy-guard"]}


def test_the_dashboard_is_the_bundles_file() -> None:
    dashboard = _one(_monitoring(), "ConfigMap", "haproxy-guard-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    file = json.loads((ROOT / "manifests" / "observability" / "grafana-dashboard.json").read_text())
    assert json.loads(dashboard["data"]["haproxy-guard.json"]) == file


def _thresholds(rule: dict[str, Any]) -> list[float]:
    slow = next(
        r for group in rule["spec"]["groups"] for r in group["rules"] if r["alert"] == "HaproxyGuardSlowAdmissions"
    )
    return [float(value) for value in re.findall(r"\)\)\) > ([0-9.]+)", slow["expr"])]


def test_the_prometheus_rule_is_the_bundles_file_with_thresholds_from_the_timeouts(tmp_path: Path) -> None:
    bundle = yaml.safe_load((ROOT / "manifests" / "observability" / "prometheusrule.yaml").read_text())
    default = _one(_monitoring(), "PrometheusRule")
    assert default["spec"] == bundle["spec"], "default timeouts: the file as it is"
    assert _thresholds(default) == [2.4, 4.0]
    custom = _one(
        _monitoring(
            "--set", "webhooks.mutate.timeoutSeconds=10", "--set", "webhooks.validateConfigMaps.timeoutSeconds=8"
        ),
        "PrometheusRule",
    )
    assert _thresholds(custom) == [8.0, 6.4], "80% of each webhook's timeoutSeconds (the longest validate one)"
    if not PROMTOOL.exists():  # built by `make e2e-tools`, never inside a test
        pytest.fail("promtool is missing: run `make e2e-tools` first (`make test` does)", pytrace=False)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(custom["spec"], sort_keys=False))
    checked = subprocess.run(
        [PROMTOOL, "check", "rules", tmp_path / "rules.yaml"], capture_output=True, text=True, check=False, timeout=120
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_clusters_older_than_the_tested_schemas_are_refused() -> None:
    """The objects are validated against the Kubernetes 1.30 and newest schemas; older clusters are refused."""
    error = _refused("--kube-version", "1.29.9")
    assert "chart requires kubeVersion: >=1.30.0-0" in error
    assert render_chart("--kube-version", "1.30.0")


def test_the_packaged_chart_renders_the_same_objects(tmp_path: Path) -> None:
    """`helm package` keeps every file the templates read (the observability files included)."""
    helm("package", str(CHART), "--destination", str(tmp_path))
    (archive,) = tmp_path.glob("haproxy-guard-*.tgz")
    monitoring = ("--set", "metrics.prometheusRule.enabled=true", "--set", "metrics.dashboard.enabled=true")
    packaged = helm("template", "haproxy-guard", str(archive), "--namespace", "haproxy-guard", *monitoring).stdout
    assert [doc for doc in yaml.safe_load_all(packaged) if doc] == render_chart(*monitoring)
