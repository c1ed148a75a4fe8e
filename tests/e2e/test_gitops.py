"""What GitOps tools see with the rollout controller on, through the real API server: each tool's way of
applying (Flux: server-side apply of the whole folder as `kustomize-controller`; Argo CD: `kubectl apply` of
what is out of sync, then its server-side diff), after a ConfigMap-only change rolled the workload. One
rollout per change, however the apply and the controller meet, and no drift in the tool's diff. And the
alternative: `haproxy-guard mutate` output committed (the digest in Git), controller off."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import ControlPlane
from tests.e2e.test_enforcement import DEPLOYMENT, EXAMPLES, namespace, placed
from tests.e2e.test_rollout_controller import CONFIGMAP, HASH, _changed, _leader, _template, _wait, controllers
from tests.helpers import ROOT

pytestmark = pytest.mark.e2e


def _diff(control_plane: ControlPlane, objects: list[dict[str, Any]], *args: str) -> subprocess.CompletedProcess[str]:
    """`kubectl diff` (a server-side dry run of the apply, mutation included): exit 0 means no drift."""
    return control_plane.kubectl("diff", *args, "-f", "-", stdin=yaml.safe_dump_all(objects))


def test_flux_applies_the_folder_server_side_and_sees_no_drift(control_plane: ControlPlane, tmp_path: Path) -> None:
    with controllers(control_plane, tmp_path) as (_, lease_namespace):
        ns = namespace(control_plane)
        folder = [*placed(EXAMPLES, ns), *placed([DEPLOYMENT], ns)]
        flux = ("--server-side", "--field-manager=kustomize-controller")
        control_plane.apply(folder, *flux).check_returncode()
        first, generation = _template(control_plane, ns)
        _wait("a leader", lambda: _leader(control_plane, lease_namespace))
        changed = [_changed(ns, 6000) if obj["kind"] == "ConfigMap" else obj for obj in folder]
        control_plane.apply(changed, *flux).check_returncode()  # the webhook and the controller may both act
        second = _wait("the rollout", lambda: (h := _template(control_plane, ns)[0]) != first and h)
        time.sleep(4)
        assert _template(control_plane, ns) == (second, generation + 1), "one rollout, not one per actor"
        assert _diff(control_plane, changed, *flux).returncode == 0, "Flux's drift detection sees no change"
        control_plane.apply(changed, *flux).check_returncode()  # Flux's next reconciliation
        assert _template(control_plane, ns) == (second, generation + 1), "and its next apply rolls nothing"


def test_argo_cd_syncs_the_configmap_and_its_server_side_diff_is_clean(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    with controllers(control_plane, tmp_path) as (_, lease_namespace):
        ns = namespace(control_plane)
        desired = [*placed(EXAMPLES, ns), *placed([DEPLOYMENT], ns)]
        control_plane.apply(desired).check_returncode()
        first, generation = _template(control_plane, ns)
        _wait("a leader", lambda: _leader(control_plane, lease_namespace))
        desired = [_changed(ns, 6500) if obj["kind"] == "ConfigMap" else obj for obj in desired]
        control_plane.apply([obj for obj in desired if obj["kind"] == "ConfigMap"]).check_returncode()  # out of sync
        second = _wait("the rollout", lambda: (h := _template(control_plane, ns)[0]) != first and h)
        time.sleep(3)
        assert _template(control_plane, ns) == (second, generation + 1)
        diff = _diff(control_plane, desired)
        assert diff.returncode == 0, f"the server-side diff shows drift:\n{diff.stdout}"
        stored = control_plane.get("deployment", "edge-haproxy", ns)
        assert stored is not None
        last_applied = json.loads(stored["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
        assert HASH not in (last_applied["spec"]["template"].get("metadata", {}).get("annotations") or {}), (
            "the digest is not in the last-applied record: Argo CD's client-side three-way diff ignores it"
        )


def _mutate(paths: list[Path]) -> None:
    for path in paths:
        done = subprocess.run([sys.executable, "-m", "haproxy_guard.cli", "mutate", str(path)], capture_output=True,
                              text=True, check=False, cwd=ROOT)  # fmt: skip
        assert done.returncode in (0, 1), done.stderr
        path.write_text(done.stdout)


def test_committed_mutate_output_with_the_controller_off(control_plane: ControlPlane, tmp_path: Path) -> None:
    settings = "rolloutController:\n  enabled: false\n"
    with controllers(control_plane, tmp_path, settings):
        ns = namespace(control_plane)
        repository = tmp_path / "repository"
        repository.mkdir()
        manifest = repository / "edge.yaml"
        manifest.write_text(yaml.safe_dump_all([*placed([CONFIGMAP], ns), *placed([DEPLOYMENT], ns)]))
        _mutate([manifest])  # the digest is now in Git
        committed = [doc for doc in yaml.safe_load_all(manifest.read_text()) if doc]
        in_git = committed[1]["spec"]["template"]["metadata"]["annotations"][HASH]
        control_plane.apply(committed).check_returncode()
        assert _template(control_plane, ns)[0] == in_git
        generation = _template(control_plane, ns)[1]
        manifest.write_text(yaml.safe_dump_all([_changed(ns, 7000), committed[1]]))
        _mutate([manifest])  # CI keeps the digest current: the change comes with its digest
        committed = [doc for doc in yaml.safe_load_all(manifest.read_text()) if doc]
        new_in_git = committed[1]["spec"]["template"]["metadata"]["annotations"][HASH]
        assert new_in_git != in_git
        control_plane.apply(committed).check_returncode()
        assert _template(control_plane, ns) == (new_in_git, generation + 1)
        assert _diff(control_plane, committed).returncode == 0
