"""The node leaves the machine as it found it: no interface, route, iptables rule, kernel setting, mount or
folder changes on the host, and after the node stops (or the test process running it is killed) no process,
cgroup folder or run folder is left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.node.cluster import NODE_IP, Node, start_node, sweep_stale
from tests.node.conftest import require_parts
from tests.node.host import host_state, traces

pytestmark = [pytest.mark.node, pytest.mark.timeout(300)]

PAUSE_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "pause", "namespace": "default"},
    "spec": {"containers": [{"name": "pause", "image": "localhost/pause:node", "imagePullPolicy": "Never"}]},
}


def _pod_ip(node: Node) -> str | None:
    pod = node.get("pod", "pause")
    status = (pod or {}).get("status", {})
    return status.get("podIP") if status.get("phase") == "Running" else None


def test_a_node_runs_a_pod_and_leaves_the_host_as_it_found_it() -> None:
    require_parts()
    before = host_state()
    with start_node(images=("pause",)) as node:
        run, cgroup_root = node.run, node.cgroup_root
        node.apply([PAUSE_POD]).check_returncode()
        ip = node.wait_for("the pause pod to run", lambda: _pod_ip(node), timeout=90)
        assert ip.startswith("10.244.0.")
        # The pod's network exists in the node's namespace, not on the host.
        inside = node.run_in(["ip", "-o", "addr", "show"]).stdout
        assert NODE_IP in inside and "cni0" in inside
        assert "cni0" not in str(host_state()["links"]) and NODE_IP not in str(host_state()["addresses"])
        # kube-proxy wrote its chains in the node's namespace only.
        assert "KUBE-SERVICES" in node.run_in(["iptables-save"]).stdout
        assert host_state() == before, "the running node changed the host"
        assert traces(run, cgroup_root)["cgroups"], "kubelet's cgroups should live under the run's own root"
    assert host_state() == before
    assert traces(run, cgroup_root) == {"processes": [], "cgroups": [], "run_folder": False}


KILLED_RUN = """
import sys, time
from tests.node.cluster import start_node
with start_node(images=("pause",)) as node:
    print(node.run, node.cgroup_root, flush=True)
    time.sleep(600)
"""


def test_a_killed_test_run_leaves_no_process_and_the_next_run_sweeps_its_folders() -> None:
    require_parts()
    before = host_state()
    runner = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        line = runner.stdout.readline() if runner.stdout else ""
        assert line, "the node in the child test run did not start"
        run, cgroup_root = Path(line.split()[0]), line.split()[1]
        assert traces(run, cgroup_root)["processes"]
    finally:
        os.kill(runner.pid, signal.SIGKILL)  # no teardown runs: only the kernel's death signals
        runner.wait()
        if runner.stdout:
            runner.stdout.close()
    deadline = time.monotonic() + 30
    while traces(run, cgroup_root)["processes"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert traces(run, cgroup_root)["processes"] == [], "processes outlived the killed test run"
    removed = sweep_stale()
    assert str(run) in removed
    assert traces(run, cgroup_root) == {"processes": [], "cgroups": [], "run_folder": False}
    assert host_state() == before
