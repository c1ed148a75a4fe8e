"""Which workloads mount which ConfigMaps: HAProxy workloads only, the engine's notion of a configuration
mount (a controller that writes its own configuration mounts none), kept current as workloads change."""

from __future__ import annotations

import copy

from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.webhook.rollouts.index import MountIndex, key_of, mounted_configmaps
from tests.helpers import ROOT, load_yaml

DEPLOYMENT = load_yaml(ROOT / "examples" / "haproxy-deployment.yaml")


def test_an_haproxy_workload_mounts_its_configuration() -> None:
    assert mounted_configmaps(DEPLOYMENT, Settings()) == ["edge-haproxy"]


def test_another_application_mounts_nothing_that_counts() -> None:
    other = copy.deepcopy(DEPLOYMENT)
    other["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.27"
    assert mounted_configmaps(other, Settings()) == []


def test_the_index_follows_changes_both_ways() -> None:
    index = MountIndex()
    key = key_of(DEPLOYMENT)
    assert key == ("Deployment", "edge", "edge-haproxy")
    index.update(key, ["edge-haproxy", "shared"])
    index.update(("StatefulSet", "edge", "db-lb"), ["shared"])
    assert index.readers("edge", "shared") == [("Deployment", "edge", "edge-haproxy"), ("StatefulSet", "edge", "db-lb")]
    index.update(key, ["edge-haproxy-v2"])
    assert index.readers("edge", "shared") == [("StatefulSet", "edge", "db-lb")]
    assert index.readers("edge", "edge-haproxy") == [] and index.readers("edge", "edge-haproxy-v2") == [key]
    assert index.readers("other", "edge-haproxy-v2") == [], "namespaced"
    index.update(key, [])
    assert len(index) == 1
