"""A ConfigMap-only change on the real node, with the product installed by Helm: `kubectl apply` of the
ConfigMap alone (the Deployment unchanged, so no request for it) rolls the pods through the rollout controller,
the new pods run the new configuration, and a load through the Service loses no request meanwhile; a change
the webhook denies rolls nothing; the controller's leader killed right after a change hands over and the
rollouts finish, once each."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import pytest

from tests.node.cluster import Node, available, new_namespace
from tests.node.conftest import GUARD_NAMESPACE
from tests.node.test_rollouts import rollout_under_load
from tests.node.workloads import BROKEN_CFG, HAPROXY_CFG, config_map, service, workload

pytestmark = [pytest.mark.node, pytest.mark.timeout(600)]
HASH = "haproxy-guard.io/config-hash"
VERSION_2 = HAPROXY_CFG.replace(
    "  default_backend app\n", "  default_backend app\n  http-response set-header X-Config 2\n"
)

HEADERS = """
import sys, urllib.request
seen = set()
for _ in range(20):
    seen.add(urllib.request.urlopen(f"http://{sys.argv[1]}/", timeout=2).headers.get("X-Config"))
print(sorted(str(value) for value in seen))
"""


def _template(node: Node, kind: str, name: str, ns: str) -> tuple[object, int]:
    stored = node.get(kind.lower(), name, ns)
    assert stored is not None
    annotations = stored["spec"]["template"]["metadata"].get("annotations") or {}
    return annotations.get(HASH), int(stored["metadata"]["generation"])


def _deploy(node: Node, ns: str, names: list[str], branch: str = "3.2") -> None:
    objects: list[dict[str, Any]] = [config_map("edge", ns)]
    for name in names:
        deployment = workload("Deployment", name, ns, branch)
        for volume in deployment["spec"]["template"]["spec"]["volumes"]:
            if "configMap" in volume:
                volume["configMap"]["name"] = "edge"
        objects += [service(name, ns), deployment]
    applied = node.apply(objects)
    assert applied.returncode == 0, applied.stderr
    for name in names:
        node.wait_for(f"{name} to be available", lambda name=name: available(node, "deployment", name, ns, 2), 180)


def _leader(node: Node) -> str:
    lease = node.get("lease", "haproxy-guard-rollouts", GUARD_NAMESPACE)
    assert lease is not None, "no rollout controller holds its Lease"
    return str(lease["spec"]["holderIdentity"])


def test_a_configmap_only_change_rolls_the_pods_and_loses_no_request(node: Node, guard: str) -> None:
    ns = new_namespace(node)
    _deploy(node, ns, ["edge"])
    before = _template(node, "Deployment", "edge", ns)
    node.wait_for(
        "a rollout controller to lead", lambda: bool(node.get("lease", "haproxy-guard-rollouts", GUARD_NAMESPACE)), 60
    )

    def change_only_the_configmap() -> None:
        applied = node.apply([config_map("edge", ns, VERSION_2)])
        assert applied.returncode == 0, applied.stderr
        node.wait_for(
            "the controller to roll the Deployment",
            lambda: _template(node, "Deployment", "edge", ns)[0] != before[0],
            60,
        )

    total, failures, _, timeline = rollout_under_load(node, "Deployment", "edge", ns, change_only_the_configmap)
    assert total > 0
    assert sum(failures.values()) == 0, f"the ConfigMap-triggered rollout lost requests: {failures}\n{timeline}"
    after = _template(node, "Deployment", "edge", ns)
    assert after[1] == before[1] + 1, "one rollout for one change"
    address = node.get("service", "edge", ns)["spec"]["clusterIP"]  # type: ignore[index]
    served = node.run_in([sys.executable, "-c", HEADERS, address], timeout=60)
    assert served.stdout.strip() == "['2']", (
        f"the pods do not all run the new configuration: {served.stdout}{served.stderr}"
    )
    events = json.loads(
        node.kubectl_ok("get", "events", "-n", ns, "--field-selector", "reason=ConfigurationChanged", "-o", "json")
    )
    assert [e["involvedObject"]["name"] for e in events["items"]] == ["edge"]


def test_a_denied_configmap_change_rolls_nothing(node: Node, guard: str) -> None:
    ns = new_namespace(node)
    _deploy(node, ns, ["edge"])
    before = _template(node, "Deployment", "edge", ns)
    denied = node.apply([config_map("edge", ns, BROKEN_CFG)])
    assert denied.returncode != 0 and "denied the request" in denied.stderr
    time.sleep(10)
    assert _template(node, "Deployment", "edge", ns) == before
    assert available(node, "deployment", "edge", ns, 2)


def test_the_leader_killed_after_a_change_hands_over_and_every_rollout_finishes_once(node: Node, guard: str) -> None:
    ns = new_namespace(node)
    names = ["edge-a", "edge-b", "edge-c"]
    _deploy(node, ns, names)
    before = {name: _template(node, "Deployment", name, ns) for name in names}
    leader = _leader(node)
    pod = leader.rsplit("_", 1)[0]
    assert node.get("pod", pod, GUARD_NAMESPACE) is not None, f"the Lease holder {leader} is not a webhook pod"
    applied = node.apply([config_map("edge", ns, VERSION_2)])
    assert applied.returncode == 0, applied.stderr
    node.kubectl_ok("delete", "pod", pod, "-n", GUARD_NAMESPACE, "--grace-period=0", "--force", "--wait=false")

    def rolled() -> bool:
        return all(_template(node, "Deployment", name, ns)[0] != before[name][0] for name in names)

    node.wait_for("every Deployment to roll (after a handover if the leader had not yet)", rolled, 90)
    node.wait_for("a new leader", lambda: _leader(node).rsplit("_", 1)[0] != pod, 90)
    for name in names:
        assert _template(node, "Deployment", name, ns)[1] == before[name][1] + 1, f"{name} rolled more than once"
        node.wait_for(f"{name} to finish", lambda name=name: available(node, "deployment", name, ns, 2), 180)
