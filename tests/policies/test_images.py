"""HAProxy image detection, as the contract lists it."""

from __future__ import annotations

import pytest

from haproxy_guard.policies.model.images import image_repository, is_haproxy_image


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        pytest.param("haproxy:3.2", True, id="official-tag"),
        pytest.param("haproxy", True, id="official-no-tag"),
        pytest.param("docker.io/library/haproxy:2.8-alpine", True, id="docker-hub-full"),
        pytest.param("haproxytech/haproxy-alpine:3.0", True, id="haproxytech-alpine"),
        pytest.param("haproxytech/haproxy-debian:2.9", True, id="haproxytech-debian"),
        pytest.param("haproxytech/haproxy-ubuntu", True, id="haproxytech-ubuntu"),
        pytest.param("bitnami/haproxy:2.8", True, id="bitnami"),
        pytest.param("registry.local:5000/mirror/haproxy@sha256:" + "0" * 64, True, id="registry-port-digest"),
        pytest.param("registry.local:5000/mirror/haproxy:2.8@sha256:" + "0" * 64, True, id="tag-and-digest"),
        pytest.param("localhost/haproxy:dev", True, id="localhost-registry"),
        pytest.param("HAProxy:2.8", True, id="case-insensitive"),
        pytest.param("prom/haproxy-exporter:v0.15.0", False, id="exporter"),
        pytest.param("haproxytech/kubernetes-ingress:3.0", False, id="ingress-controller"),
        pytest.param("nginx:1.27", False, id="nginx"),
        pytest.param("registry.local:5000/haproxy-tools/envoy:1.0", False, id="haproxy-in-path-only"),
        pytest.param("", False, id="empty"),
    ],
)
def test_haproxy_image_detection(image: str, expected: bool) -> None:
    assert is_haproxy_image(image) is expected


def test_repository_strips_registry_tag_and_digest() -> None:
    assert image_repository("registry.local:5000/mirror/haproxy:2.8@sha256:abc") == "mirror/haproxy"
    assert image_repository("quay.io/team/edge") == "team/edge"
    assert image_repository("team/edge:1") == "team/edge"


@pytest.mark.parametrize(
    ("image", "patterns", "expected"),
    [
        pytest.param("quay.io/acme/edge-proxy:1.4", ["edge-proxy"], True, id="last-segment"),
        pytest.param("quay.io/acme/edge-proxy:1.4", ["acme/*"], True, id="repository-glob"),
        pytest.param("quay.io/acme/edge-proxy:1.4", ["other/*"], False, id="no-match"),
    ],
)
def test_extra_image_patterns(image: str, patterns: list[str], expected: bool) -> None:
    assert is_haproxy_image(image, tuple(patterns)) is expected
