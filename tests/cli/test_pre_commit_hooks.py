"""The pre-commit hooks run commands that exist and pick the files they should."""

from __future__ import annotations

import re
import shlex

import yaml

from haproxy_guard.cli.arguments import build_parser
from tests.helpers import ROOT

HOOKS = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())


def test_hooks_run_existing_commands() -> None:
    assert {hook["id"] for hook in HOOKS} == {
        "haproxy-guard-audit",
        "haproxy-guard-check-config",
        "haproxy-guard-mutate-check",
    }
    for hook in HOOKS:
        program, *words = shlex.split(hook["entry"])
        assert program == "haproxy-guard" and hook["language"] == "python"
        build_parser().parse_args([*words, "file.yaml"])  # the subcommand exists and takes file arguments


def test_hooks_select_their_files() -> None:
    patterns = {hook["id"]: re.compile(hook["files"]) for hook in HOOKS}
    assert patterns["haproxy-guard-audit"].search("deploy/haproxy/deployment.yaml")
    assert patterns["haproxy-guard-audit"].search("rendered.json")
    assert not patterns["haproxy-guard-audit"].search("README.md")
    assert patterns["haproxy-guard-check-config"].search("config/haproxy.cfg")
    assert patterns["haproxy-guard-check-config"].search("haproxy-edge.cfg")
    assert not patterns["haproxy-guard-check-config"].search("nginx.conf")
