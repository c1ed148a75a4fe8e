"""The check sees what the pod sees (`container_view`): other ConfigMaps' files at their mount paths, `items`
and `subPath` as the kubelet projects them, Secrets and unreadable volumes as opaque folders, the command's
`-f` files, `envFrom`/`valueFrom` with unknown values reported as warnings instead of denials. Each case runs
through the engine with the real validator, on every branch."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from haproxy_guard.policies.context import Context
from haproxy_guard.policies.engine import check
from haproxy_guard.policies.haproxy.validator import Validator, discover_binaries
from haproxy_guard.policies.model.container_view import DEFAULT_CONFIG, container_view
from haproxy_guard.policies.model.findings import Finding, Severity
from haproxy_guard.policies.model.settings import Settings

BINARIES = discover_binaries()
VALIDATOR = Validator(BINARIES)
HEADER = "defaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 1s\n"
TAIL = "  default_backend be\nbackend be\n  server s 127.0.0.1:80\n"


def _configmap(name: str, data: dict[str, str], labels: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": "shop"}
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


def _deployment(
    volumes: list[dict[str, Any]], mounts: list[dict[str, Any]], version: str, **container: Any
) -> dict[str, Any]:
    spec = {
        "name": "haproxy",
        "image": f"haproxy:{version}",
        "volumeMounts": mounts,
        **container,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "edge", "namespace": "shop"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "edge"}},
            "template": {"metadata": {"labels": {"app": "edge"}}, "spec": {"containers": [spec], "volumes": volumes}},
        },
    }


def _findings(workload: dict[str, Any], *configmaps: dict[str, Any]) -> list[Finding]:
    known = {cm["metadata"]["name"]: cm for cm in configmaps}

    def source(namespace: str | None, name: str) -> dict[str, Any] | None:
        return copy.deepcopy(known.get(name))

    evaluation = check(workload, Settings(), context=Context(VALIDATOR, source))
    return [finding for finding in evaluation.findings if finding.policy == "haproxy-config-valid"]


def _denials(findings: list[Finding]) -> list[str]:
    return [finding.message for finding in findings if finding.severity is Severity.DENY]


def _warnings(findings: list[Finding]) -> list[str]:
    return [finding.message for finding in findings if finding.severity is Severity.WARN]


CONFIG_VOLUME = {"name": "config", "configMap": {"name": "edge-haproxy"}}
CONFIG_MOUNT = {"name": "config", "mountPath": "/usr/local/etc/haproxy"}
VERSIONS = sorted(BINARIES)


@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
def test_a_map_from_a_second_configmap_is_checked_with_its_real_content(version: str) -> None:
    text = (
        HEADER
        + "frontend fe\n  bind :8080\n  http-request set-var(txn.x) src,map_ip(/etc/haproxy/maps/ip.map)\n"
        + TAIL
    )
    volumes = [CONFIG_VOLUME, {"name": "maps", "configMap": {"name": "edge-maps"}}]
    mounts = [CONFIG_MOUNT, {"name": "maps", "mountPath": "/etc/haproxy/maps"}]
    workload = _deployment(volumes, mounts, version)
    config = _configmap("edge-haproxy", {"haproxy.cfg": text})
    assert _denials(_findings(workload, config, _configmap("edge-maps", {"ip.map": "10.0.0.0/8 internal\n"}))) == []
    broken = _denials(_findings(workload, config, _configmap("edge-maps", {"ip.map": "notanip x\n"})))
    assert broken and "is not a valid IPv4 or IPv6 address" in broken[0], broken
    # unreadable: the folder is opaque, the file stands in
    assert _denials(_findings(workload, config)) == []


@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
def test_a_secret_nested_in_the_config_folder_is_opaque_not_missing(version: str) -> None:
    text = HEADER + "frontend fe\n  bind :8443 ssl crt /usr/local/etc/haproxy/certs/site.pem\n" + TAIL
    volumes = [CONFIG_VOLUME, {"name": "tls", "secret": {"secretName": "edge-tls"}}]
    mounts = [CONFIG_MOUNT, {"name": "tls", "mountPath": "/usr/local/etc/haproxy/certs"}]
    config = _configmap("edge-haproxy", {"haproxy.cfg": text})
    assert _denials(_findings(_deployment(volumes, mounts, version), config)) == []
    # without the Secret, the whole-folder ConfigMap mount hides the image's files: really missing
    denied = _denials(_findings(_deployment([CONFIG_VOLUME], [CONFIG_MOUNT], version), config))
    assert denied and "site.pem" in denied[0]


@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
def test_items_remap_keys_and_leave_the_others_out(version: str) -> None:
    text = HEADER + "frontend fe\n  bind :8080\n  errorfile 503 /usr/local/etc/haproxy/errors/503.http\n" + TAIL
    page = "HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\n\r\ndown\n"
    config = _configmap("edge-haproxy", {"main": text, "page": page, "haproxy.cfg": "not a configuration\n"})
    items = [{"key": "main", "path": "haproxy.cfg"}, {"key": "page", "path": "errors/503.http"}]
    volume = {"name": "config", "configMap": {"name": "edge-haproxy", "items": items}}
    assert _denials(_findings(_deployment([volume], [CONFIG_MOUNT], version), config)) == []
    without_page = {"name": "config", "configMap": {"name": "edge-haproxy", "items": items[:1]}}
    denied = _denials(_findings(_deployment([without_page], [CONFIG_MOUNT], version), config))
    assert denied and "503.http" in denied[0], "the page is not projected, and the folder hides the image's"


@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
def test_a_subpath_mount_sees_only_its_own_key(version: str) -> None:
    text = HEADER + "frontend fe\n  bind :8080\n  errorfile 503 /usr/local/etc/haproxy/503.http\n" + TAIL
    config = _configmap("edge-haproxy", {"haproxy.cfg": text, "503.http": "not an HTTP response"})
    mount = {"name": "config", "mountPath": DEFAULT_CONFIG, "subPath": "haproxy.cfg"}
    assert _denials(_findings(_deployment([CONFIG_VOLUME], [mount], version), config)) == [], (
        "503.http is not mounted: the pod gets that path from its image, so it stands in"
    )
    whole = _denials(_findings(_deployment([CONFIG_VOLUME], [CONFIG_MOUNT], version), config))
    assert whole, "mounted whole, the broken page is what the pod loads"


@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
def test_a_folder_given_to_f_loads_every_cfg_key(version: str) -> None:
    config = _configmap(
        "edge-haproxy",
        {"haproxy.cfg": HEADER + "frontend fe\n  bind :8080\n" + TAIL, "zz-extra.cfg": "bogus-keyword\n"},
    )
    folder = _deployment([CONFIG_VOLUME], [CONFIG_MOUNT], version, args=["-f", "/usr/local/etc/haproxy/"])
    denied = _denials(_findings(folder, config))
    assert denied and "zz-extra.cfg:1" in denied[0] and "bogus-keyword" in denied[0], denied
    assert _denials(_findings(_deployment([CONFIG_VOLUME], [CONFIG_MOUNT], version), config)) == [], (
        "the default command loads haproxy.cfg alone"
    )


@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
def test_env_from_a_configmap_is_known(version: str) -> None:
    text = HEADER + 'frontend fe\n  bind ":${PORT}"\n' + TAIL
    config = _configmap("edge-haproxy", {"haproxy.cfg": text})
    env_from = [{"configMapRef": {"name": "edge-env"}, "prefix": ""}]
    workload = _deployment([CONFIG_VOLUME], [CONFIG_MOUNT], version, envFrom=env_from)
    assert _findings(workload, config, _configmap("edge-env", {"PORT": "8080"})) == []
    denied = _denials(_findings(workload, config, _configmap("edge-env", {"PORT": "notaport"})))
    assert denied, "a known value is checked as the pod will expand it"


@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
def test_values_only_the_pod_knows_warn_never_deny(version: str) -> None:
    text = (
        HEADER
        + 'frontend fe\n  bind ":${PORT}"\n  bind "${LISTEN}"\n  bind :8443 ssl crt "${CERT_DIR}/site.pem"\n'
        + TAIL
    )
    config = _configmap("edge-haproxy", {"haproxy.cfg": text})
    env = [
        {"name": "PORT", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['port']"}}},
        {"name": "CERT_DIR", "valueFrom": {"secretKeyRef": {"name": "s", "key": "dir"}}},
    ]
    secret_env = [{"secretRef": {"name": "edge-secrets"}}]
    workload = _deployment([CONFIG_VOLUME], [CONFIG_MOUNT], version, env=env, envFrom=secret_env)
    findings = _findings(workload, config)
    assert _denials(findings) == [], findings
    assert any("${LISTEN}" in message and "unknown at admission" in message for message in _warnings(findings))
    # the same file with nothing unknown is denied: LISTEN is empty, a bind without address
    known = _deployment([CONFIG_VOLUME], [CONFIG_MOUNT], version, env=[{"name": "PORT", "value": "80"}])
    assert _denials(_findings(known, config))


@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
def test_an_unknown_if_condition_excuses_only_its_block(version: str) -> None:
    text = HEADER + ".if defined(EDGE)\nfrontend x\n  bind :1 nonsense\n.endif\nfrontend fe\n  bind :8080\n" + TAIL
    config = _configmap("edge-haproxy", {"haproxy.cfg": text})
    secret_env = [{"secretRef": {"name": "edge-secrets"}}]
    findings = _findings(_deployment([CONFIG_VOLUME], [CONFIG_MOUNT], version, envFrom=secret_env), config)
    assert _denials(findings) == [] and any("an .if condition reads ${EDGE}" in m for m in _warnings(findings))
    broken = _configmap("edge-haproxy", {"haproxy.cfg": text + "  bogus-keyword\n"})
    denied = _denials(_findings(_deployment([CONFIG_VOLUME], [CONFIG_MOUNT], version, envFrom=secret_env), broken))
    assert denied and "bogus-keyword" in denied[0], "an error outside the block still denies"


@pytest.mark.slow
def test_a_configmap_alone_has_an_open_environment() -> None:
    text = HEADER + 'frontend fe\n  bind ":${PORT}"\n' + TAIL
    evaluation = check(_configmap("edge-haproxy", {"haproxy.cfg": text}), Settings(), context=Context(VALIDATOR))
    assert [f for f in evaluation.findings if f.severity is Severity.DENY] == []


def test_the_view_of_a_pod() -> None:
    pod_spec = {
        "volumes": [
            {"name": "a", "configMap": {"name": "cm-a", "items": [{"key": "k", "path": "sub/file.map"}]}},
            {"name": "p", "projected": {"sources": [{"configMap": {"name": "cm-b"}}, {"secret": {"name": "s"}}]}},
            {"name": "q", "projected": {"sources": [{"configMap": {"name": "cm-b"}}]}},
            {"name": "gone", "configMap": {"name": "missing"}},
        ]
    }
    container = {
        "command": ["haproxy", "-W", "-f", "/cfg/main.cfg", "-f/conf.d"],
        "volumeMounts": [
            {"name": "a", "mountPath": "/etc/a"},
            {"name": "p", "mountPath": "/etc/p"},
            {"name": "q", "mountPath": "/etc/q/one", "subPath": "one"},
            {"name": "gone", "mountPath": "/etc/gone"},
        ],
        "envFrom": [{"configMapRef": {"name": "cm-b"}, "prefix": "B_"}],
        "env": [
            {"name": "B_one", "value": "override"},
            {"name": "FROM_CM", "valueFrom": {"configMapKeyRef": {"name": "cm-b", "key": "two"}}},
            {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "x"}}},
            {"name": "EMPTY"},
        ],
    }
    configmaps = {"cm-a": {"data": {"k": "v", "other": "x"}}, "cm-b": {"data": {"one": "1", "two": "2"}}}
    view = container_view(pod_spec, container, "ns", lambda _ns, name: configmaps.get(name))
    assert view.files == {"/etc/a/sub/file.map": b"v", "/etc/q/one": b"1"}
    assert view.origins["/etc/a/sub/file.map"] == ("cm-a", "k")
    assert set(view.complete_dirs) == {"/etc/a"} and set(view.opaque_dirs) == {"/etc/p", "/etc/gone"}
    assert view.env == {"B_one": "override", "B_two": "2", "FROM_CM": "2", "EMPTY": ""}
    assert view.unknown_env == {"FROM_SECRET"} and not view.env_open
    assert view.config_paths == ("/cfg/main.cfg", "/conf.d")
    secret_from = {**container, "envFrom": [{"secretRef": {"name": "s"}}]}
    assert container_view(pod_spec, secret_from, "ns", lambda _ns, name: configmaps.get(name)).env_open
    assert container_view({}, {}, "ns", None).config_paths == (DEFAULT_CONFIG,)
