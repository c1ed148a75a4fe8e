"""The settings file: defaults, validation errors that name the key, and unknown policy ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from haproxy_guard.policies.model.findings import Severity
from haproxy_guard.policies.model.settings import Mode, Settings
from haproxy_guard.policies.settings_file import SettingsError, load_settings, parse_settings


def test_defaults_without_a_file() -> None:
    settings = load_settings(None)
    assert settings == Settings()
    assert settings.mode is Mode.ENFORCE
    assert (settings.pre_stop_seconds, settings.drain_seconds, settings.grace_margin_seconds) == (10, 30, 5)


def test_camel_case_keys_and_policy_overrides(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("mode: audit\npreStopSeconds: 20\npolicies:\n  readiness-probe: deny\nimagePatterns: [acme/*]\n")
    settings = load_settings(path)
    assert settings.mode is Mode.AUDIT
    assert settings.pre_stop_seconds == 20
    assert settings.policies == {"readiness-probe": Severity.DENY}
    assert settings.image_patterns == ("acme/*",)
    assert settings.severity("readiness-probe", Severity.WARN) is Severity.WARN, "audit mode demotes deny"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("preStopSecond: 5\n", "preStopSecond: Extra inputs are not permitted", id="typo"),
        pytest.param("mode: block\n", "mode: Input should be 'enforce' or 'audit'", id="bad-mode"),
        pytest.param("policies: {prestop: warn}\n", "unknown policy id(s) prestop", id="unknown-policy"),
        pytest.param("policies: {prestop-wait: error}\n", "policies.prestop-wait", id="bad-severity"),
        pytest.param("preStopSeconds: 0\n", "preStopSeconds", id="out-of-range"),
        pytest.param(
            "policies: {single-replica: off}\n",
            "policies.single-replica: Input should be 'deny', 'warn' or 'off' (YAML reads an unquoted off, on, yes "
            "or no as false or true: quote it)",
            id="unquoted-off",
        ),
        pytest.param("mode: yes\n", "quote it", id="unquoted-yes"),
        pytest.param("tlsMinVersion: 1.3\n", "as a number, not text: quote it", id="unquoted-number"),
        pytest.param("kubernetesVersion: latest\n", "expected a Kubernetes version", id="bad-version"),
        pytest.param("- a\n- b\n", "expected a mapping", id="not-a-mapping"),
        pytest.param("mode: [\n", "not valid YAML", id="not-yaml"),
    ],
)
def test_invalid_settings_name_the_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    with pytest.raises(SettingsError) as error:
        load_settings(path)
    assert str(path) in str(error.value)
    assert expected in str(error.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="No such file"):
        load_settings(tmp_path / "absent.yaml")


def test_empty_file_means_defaults() -> None:
    assert parse_settings(None) == Settings()
