"""The pages generated from the code (`scripts/docs.py`) are current, and the check notices when one is not."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.registry import ALL_POLICIES
from tests.helpers import ROOT

SCRIPT = ROOT / "scripts" / "docs.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_generator", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_generated_page_is_current() -> None:
    check = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False, timeout=120
    )
    assert check.returncode == 0, check.stderr


def test_the_check_names_a_page_that_is_out_of_date(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generator = _generator()
    docs = tmp_path / "docs"
    pages = generator.pages()
    for path, content in pages.items():
        copy = tmp_path / path.relative_to(ROOT)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(content, encoding="utf-8")
    stale = docs / "policies" / "prestop-wait.md"
    stale.write_text(stale.read_text().replace("deny", "warn"), encoding="utf-8")
    monkeypatch.setattr(generator, "ROOT", tmp_path)
    monkeypatch.setattr(generator, "pages", lambda: {tmp_path / p.relative_to(ROOT): c for p, c in pages.items()})
    assert generator.main(["--check"]) == 1
    assert generator.main([]) == 0 and generator.main(["--check"]) == 0  # rewritten, then current


def test_every_policy_has_its_page_and_reference_row() -> None:
    reference = (ROOT / "docs" / "reference" / "policies.md").read_text()
    for policy in ALL_POLICIES:
        page = (ROOT / "docs" / "policies" / f"{policy.id}.md").read_text()
        assert page.startswith(f"# {policy.id}\n") and f"| Default severity | `{policy.default_severity}` |" in page
        assert f"[`{policy.id}`](../policies/{policy.id}.md) | `{policy.default_severity}`" in reference


def test_every_setting_has_a_reason_and_its_default() -> None:
    rows = {key: (default, why) for key, default, _, why in _generator()._settings_rows()}
    assert rows["preStopSeconds"][0] == f"`{Settings().pre_stop_seconds}`"
    assert rows["readinessProbe.periodSeconds"][0] == f"`{Settings().readiness_probe.period_seconds}`"
    assert all(len(why) > 20 for _, why in rows.values())


def test_every_metric_of_the_registry_is_in_the_reference() -> None:
    from prometheus_client import CollectorRegistry

    from haproxy_guard.webhook.observability import Metrics

    page = (ROOT / "docs" / "reference" / "metrics.md").read_text()
    registry: CollectorRegistry = Metrics().registry
    names = {family.name for family in registry.collect()}
    assert names and all(f"| `{name}" in page for name in names), names


def test_every_command_is_in_the_cli_reference() -> None:
    page = (ROOT / "docs" / "reference" / "cli.md").read_text()
    for command in (
        "serve",
        "audit",
        "mutate",
        "check-config",
        "drill",
        "policies",
        "explain",
        "export",
        "certs generate",
    ):
        assert f"## `{command}`" in page, command
