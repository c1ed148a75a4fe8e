"""The rollout controller through a real kube-apiserver: a ConfigMap-only change rolls the workloads that
mount it, once, after validation; what the webhook would deny, opted-out workloads and ignored namespaces roll
nothing; a workload written before its ConfigMap gets its hash when the ConfigMap appears; a killed leader
hands over. (No kube-controller-manager runs here: a roll is the pod template's change, `generation` + 1;
tests/node proves the pods and the traffic.)"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from haproxy_guard.certs.authority import generate
from tests.conftest import RunningServer, start_server, stop_server
from tests.e2e.conftest import ControlPlane, register
from tests.e2e.test_enforcement import DEPLOYMENT, EXAMPLES, INVALID_CONFIG, namespace, placed

pytestmark = pytest.mark.e2e
HASH = "haproxy-guard.io/config-hash"
CONFIGMAP = next(obj for obj in EXAMPLES if obj["kind"] == "ConfigMap")


@contextmanager
def controllers(
    control_plane: ControlPlane, folder: Path, settings: str = "", count: int = 1
) -> Iterator[tuple[list[RunningServer], str]]:
    """`count` webhook processes (the first registered with the API server), each running the rollout
    controller with its Lease in a namespace of this test's own (so no earlier test's Lease is in the way)."""
    lease_namespace = namespace(control_plane)
    (folder / "settings.yaml").write_text(settings or "{}\n")
    servers: list[RunningServer] = []
    try:
        for position in range(count):
            certs = folder / f"certs-{position}"
            generate(certs, ["localhost", "127.0.0.1"])
            servers.append(start_server(certs, folder / f"webhook-{position}.log",
                                        ["--settings", str(folder / "settings.yaml")], control_plane.kubeconfig,
                                        environment={"POD_NAMESPACE": lease_namespace,
                                                     "HOSTNAME": f"replica-{position}"}))  # fmt: skip
        register(
            control_plane,
            servers[0].url.replace("localhost", "127.0.0.1"),
            (folder / "certs-0" / "ca.crt").read_bytes(),
        )
        yield servers, lease_namespace
    finally:
        for server in servers:
            stop_server(server)


def _wait(what: str, probe: Callable[[], Any], timeout: float = 40.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := probe():
            return value
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


def _leader(control_plane: ControlPlane, lease_namespace: str) -> str | None:
    lease = control_plane.get("lease", "haproxy-guard-rollouts", lease_namespace)
    return str(lease["spec"].get("holderIdentity")) if lease else None


def _template(
    control_plane: ControlPlane, ns: str, kind: str = "deployment", name: str = "edge-haproxy"
) -> tuple[object, int]:
    stored = control_plane.get(kind, name, ns)
    assert stored is not None
    annotations = stored["spec"]["template"].get("metadata", {}).get("annotations") or {}
    return annotations.get(HASH), int(stored["metadata"]["generation"])


def _events(control_plane: ControlPlane, ns: str, reason: str) -> list[dict[str, Any]]:
    result = control_plane.kubectl("get", "events", "-n", ns, "--field-selector", f"reason={reason}", "-o", "json")
    return list(json.loads(result.stdout)["items"]) if result.returncode == 0 else []


def _changed(ns: str, maxconn: int, extra: bool = False) -> dict[str, Any]:
    configmap = placed([CONFIGMAP], ns)[0]
    configmap["data"]["haproxy.cfg"] = configmap["data"]["haproxy.cfg"].replace("maxconn 4000", f"maxconn {maxconn}")
    if extra:
        configmap["data"]["extra.map"] = "example.com edge\n"
    return configmap


def test_a_configmap_only_change_rolls_the_workload_once(control_plane: ControlPlane, tmp_path: Path) -> None:
    with controllers(control_plane, tmp_path) as (servers, lease_namespace):
        ns = namespace(control_plane)
        control_plane.apply([*placed(EXAMPLES, ns), *placed([DEPLOYMENT], ns)]).check_returncode()
        first, generation = _template(control_plane, ns)
        assert isinstance(first, str) and first.startswith("sha256:")
        _wait("a leader", lambda: _leader(control_plane, lease_namespace))

        # only the ConfigMap, two keys at once (what `kubectl apply -f dir/` sends when the Deployment is unchanged)
        changed = control_plane.apply([_changed(ns, 5000, extra=True)])
        assert changed.returncode == 0, changed.stderr
        second = _wait("the rollout", lambda: (h := _template(control_plane, ns)[0]) != first and h)
        assert isinstance(second, str) and len(second) == len("sha256:") + 64
        time.sleep(3)
        assert _template(control_plane, ns) == (second, generation + 1), "one rollout for one change"
        # the webhook agrees: the Deployment as written now gets the same digest
        dry = control_plane.kubectl("apply", "--dry-run=server", "-o", "json", "-f", "-",
                                    stdin=json.dumps(placed([DEPLOYMENT], ns)[0]))  # fmt: skip
        assert json.loads(dry.stdout)["spec"]["template"]["metadata"]["annotations"][HASH] == second
        events = _events(control_plane, ns, "ConfigurationChanged")
        assert len(events) == 1 and events[0]["involvedObject"]["name"] == "edge-haproxy"
        assert second in events[0]["message"] and "edge-haproxy" in events[0]["message"]
        metrics = httpx.get(servers[0].metrics_url + "/metrics", timeout=5).text
        assert 'haproxy_guard_rollouts_total{result="rolled"} 1.0' in metrics
        assert "haproxy_guard_rollout_controller_leader 1.0" in metrics


def test_a_configuration_the_webhook_would_deny_rolls_nothing(control_plane: ControlPlane, tmp_path: Path) -> None:
    """In audit mode the broken ConfigMap is stored (with warnings); the controller still refuses to roll it."""
    with controllers(control_plane, tmp_path, "mode: audit\n") as (_, lease_namespace):
        ns = namespace(control_plane)
        control_plane.apply([*placed(EXAMPLES, ns), *placed([DEPLOYMENT], ns)]).check_returncode()
        before = _template(control_plane, ns)
        _wait("a leader", lambda: _leader(control_plane, lease_namespace))
        broken = placed([CONFIGMAP], ns)[0]
        broken["data"]["haproxy.cfg"] = INVALID_CONFIG["data"]["haproxy.cfg"]
        assert control_plane.apply([broken]).returncode == 0
        refused = _wait("the refusal", lambda: _events(control_plane, ns, "ConfigurationRefused"))
        assert "haproxy-config-valid" in refused[0]["message"]
        time.sleep(2)
        assert _template(control_plane, ns) == before


def test_a_workload_written_before_its_configmap_gets_its_hash(control_plane: ControlPlane, tmp_path: Path) -> None:
    with controllers(control_plane, tmp_path) as (_, lease_namespace):
        ns = namespace(control_plane)
        control_plane.apply(placed([DEPLOYMENT], ns)).check_returncode()
        assert _template(control_plane, ns)[0] is None, "the webhook could not read the ConfigMap: no hash yet"
        _wait("a leader", lambda: _leader(control_plane, lease_namespace))
        time.sleep(1.1)  # creation timestamps have a resolution of one second
        control_plane.apply(placed([CONFIGMAP], ns)).check_returncode()
        assert _wait("the hash", lambda: _template(control_plane, ns)[0])


def test_opt_outs_roll_nothing(control_plane: ControlPlane, tmp_path: Path) -> None:
    with controllers(control_plane, tmp_path) as (_, lease_namespace):
        skipped_ns, ignored_ns = namespace(control_plane), namespace(control_plane, {"haproxy-guard.io/ignore": "true"})
        skipped = placed([DEPLOYMENT], skipped_ns)[0]
        skipped["metadata"]["annotations"]["haproxy-guard.io/skip"] = "true"
        skipped["spec"]["template"]["metadata"]["annotations"] = {HASH: "sha256:" + "0" * 64}
        ignored = placed([DEPLOYMENT], ignored_ns)[0]  # the webhook is not even called there
        ignored["spec"]["template"]["metadata"]["annotations"] = {HASH: "sha256:" + "0" * 64}
        for ns, workload in ((skipped_ns, skipped), (ignored_ns, ignored)):
            control_plane.apply([*placed([CONFIGMAP], ns), workload]).check_returncode()
        _wait("a leader", lambda: _leader(control_plane, lease_namespace))
        before = {ns: _template(control_plane, ns) for ns in (skipped_ns, ignored_ns)}
        for ns in (skipped_ns, ignored_ns):
            control_plane.apply([_changed(ns, 4500)]).check_returncode()
        time.sleep(5)
        assert {ns: _template(control_plane, ns) for ns in (skipped_ns, ignored_ns)} == before


def test_with_the_controller_off_nothing_rolls(control_plane: ControlPlane, tmp_path: Path) -> None:
    with controllers(control_plane, tmp_path, "rolloutController:\n  enabled: false\n") as (_, lease_namespace):
        ns = namespace(control_plane)
        control_plane.apply([*placed(EXAMPLES, ns), *placed([DEPLOYMENT], ns)]).check_returncode()
        before = _template(control_plane, ns)
        applied = control_plane.apply([_changed(ns, 4200)])
        assert applied.returncode == 0, applied.stderr
        warning = f"Warning: [config-hash] ConfigMap {ns}/edge-haproxy changed and the rollout controller is off"
        assert warning in applied.stderr and "Deployment/edge-haproxy keeps running the previous" in applied.stderr
        time.sleep(5)
        assert _template(control_plane, ns) == before
        assert _leader(control_plane, lease_namespace) is None, "no Lease is even taken"
        unchanged = control_plane.apply([_changed(ns, 4200)])  # the same data again: nothing to warn about
        assert "rollout controller is off" not in unchanged.stderr


def test_a_killed_leader_hands_over_and_the_rollout_happens(control_plane: ControlPlane, tmp_path: Path) -> None:
    settings = "rolloutController:\n  leaseDurationSeconds: 5\n"
    with controllers(control_plane, tmp_path, settings, count=2) as (servers, lease_namespace):
        ns = namespace(control_plane)
        control_plane.apply([*placed(EXAMPLES, ns), *placed([DEPLOYMENT], ns)]).check_returncode()
        first, generation = _template(control_plane, ns)
        leader = _wait("a leader", lambda: _leader(control_plane, lease_namespace))
        position = int(leader.split("_")[0].removeprefix("replica-"))
        servers[position].process.kill()  # mid-way: it holds the Lease and will never renew it
        servers[position].process.wait()
        control_plane.apply([_changed(ns, 4800)]).check_returncode()
        second = _wait(
            "the rollout by the other replica", lambda: (h := _template(control_plane, ns)[0]) != first and h
        )
        assert _leader(control_plane, lease_namespace).startswith(f"replica-{1 - position}_")  # type: ignore[union-attr]
        assert second and _template(control_plane, ns)[1] == generation + 1
