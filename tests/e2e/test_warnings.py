"""Warnings as kubectl prints them through the real API server: whole findings (no 256-rune cut), a summary
naming what did not fit, and room left for another admission plugin's warnings on the same request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import stop_server
from tests.e2e.conftest import ControlPlane, start_webhook
from tests.e2e.test_enforcement import DEPLOYMENT, namespace, placed

pytestmark = pytest.mark.e2e

# eight findings, 2,267 runes together: more than one reply's budget
CONFIG = """global
  log stdout format raw local0
defaults
  mode http
frontend web
  bind :8080
  default_backend app
backend app
  server a app1.example.com:80 check
  server b app2.example.com:80 check
"""


def _configmap(ns: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "edge-haproxy", "namespace": ns, "labels": {"haproxy-guard.io/config": "true"}},
            "data": {"haproxy.cfg": CONFIG}}  # fmt: skip


def _warnings(stderr: str) -> list[str]:
    return [line.removeprefix("Warning: ") for line in stderr.splitlines() if line.startswith("Warning: ")]


def test_kubectl_shows_whole_findings_and_names_the_rest(control_plane: ControlPlane, tmp_path: Path) -> None:
    hook = start_webhook(control_plane, tmp_path, "mode: audit\n")
    try:
        ns = namespace(control_plane)
        result = control_plane.apply([_configmap(ns)])
        assert result.returncode == 0, result.stderr
        warnings = _warnings(result.stderr)
        assert warnings, result.stderr
        assert not [w for w in warnings if w.endswith("…")], "the API server cut them: over its 4 KiB"
        assert max(len(w) for w in warnings) > 256, "a finding longer than 256 runes arrives whole"
        summary = warnings[-1]
        assert summary.startswith("[haproxy-guard] ") and "more finding" in summary, warnings
        named = {w.split("]")[0][1:] for w in warnings[:-1]} | {
            policy.strip() for policy in summary.split("(", 1)[1].split(")", 1)[0].split(",")
        }
        assert {"haproxy-maxconn", "haproxy-timeouts", "haproxy-health-endpoint", "haproxy-hard-stop-after"} <= named
        assert sum(len(w) for w in warnings) <= 2048
    finally:
        assert hook.server is not None
        stop_server(hook.server)


def test_another_plugins_warnings_and_ours_both_arrive_whole(control_plane: ControlPlane, tmp_path: Path) -> None:
    """Pod Security in `warn` mode adds its own warning to the same request: both stay whole."""
    hook = start_webhook(control_plane, tmp_path, "mode: audit\n")
    try:
        ns = namespace(control_plane, {"pod-security.kubernetes.io/warn": "restricted"})
        result = control_plane.apply(placed([DEPLOYMENT], ns))
        assert result.returncode == 0, result.stderr
        warnings = _warnings(result.stderr)
        pod_security = [w for w in warnings if w.startswith("would violate PodSecurity")]
        ours = [w for w in warnings if w.startswith("[")]
        assert pod_security and ours, warnings
        assert not [w for w in warnings if w.endswith("…")]
        assert len(pod_security[0]) > 256, "whole: the API server did not switch to cutting"
    finally:
        assert hook.server is not None
        stop_server(hook.server)
