"""The observability bundle (manifests/observability/): the Grafana dashboard and the alert rules query only
metrics the webhook exports, and the rules pass the real `promtool check rules` and `promtool test rules`
(each alert fires on the series it is meant for, with the labels and text it is meant to have)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from haproxy_guard.webhook.observability import Metrics
from tests.helpers import ROOT

BUNDLE = ROOT / "manifests" / "observability"
PROMTOOL = ROOT / ".cache" / "tools" / "promtool"
METRIC = re.compile(r"\bhaproxy_guard_[a-z0-9_]+")


def _exported() -> set[str]:
    """Every series name /metrics can carry (histograms as their _bucket, _count and _sum)."""
    names: set[str] = set()
    for family in Metrics().registry.collect():
        if family.type == "histogram":
            names |= {family.name + suffix for suffix in ("_bucket", "_count", "_sum")}
        elif family.type == "counter":
            names.add(family.name + "_total")
        else:
            names.add(family.name)
    return names


def _dashboard() -> dict[str, object]:
    loaded: dict[str, object] = json.loads((BUNDLE / "grafana-dashboard.json").read_text())
    return loaded


def _rule_groups() -> list[dict[str, object]]:
    rule = yaml.safe_load((BUNDLE / "prometheusrule.yaml").read_text())
    assert rule["apiVersion"] == "monitoring.coreos.com/v1" and rule["kind"] == "PrometheusRule"
    groups: list[dict[str, object]] = rule["spec"]["groups"]
    return groups


def _queries() -> list[str]:
    panels = _dashboard()["panels"]
    assert isinstance(panels, list)
    expressions = [target["expr"] for panel in panels for target in panel["targets"]]
    expressions += [str(rule["expr"]) for group in _rule_groups() for rule in group["rules"]]  # type: ignore[attr-defined]
    return expressions


def test_every_queried_metric_is_one_the_webhook_exports() -> None:
    exported = _exported()
    queried = {name for expression in _queries() for name in METRIC.findall(expression)}
    assert queried, "the bundle queries the webhook's metrics"
    assert queried <= exported, f"not exported: {sorted(queried - exported)}"
    wanted = {"haproxy_guard_admission_policies_total", "haproxy_guard_certificate_expiry_timestamp_seconds",
              "haproxy_guard_validator_cache_hits_total", "haproxy_guard_validator_duration_seconds_bucket"}  # fmt: skip
    assert wanted <= queried, "verdicts by policy, certificate expiry, validator time and cache hits are shown"


def test_the_dashboard_is_well_formed() -> None:
    dashboard = _dashboard()
    panels = dashboard["panels"]
    assert isinstance(panels, list) and dashboard["uid"] == "haproxy-guard"
    assert len({panel["id"] for panel in panels}) == len(panels)
    for panel in panels:
        assert panel["targets"] and panel["datasource"]["uid"] == "${datasource}"
        assert all(target["refId"] and target["expr"] for target in panel["targets"])


@pytest.fixture
def promtool() -> Path:
    if not PROMTOOL.exists():  # built by `make e2e-tools` (scripts/build-promtool.sh), never inside a test
        pytest.fail("promtool is missing: run `make e2e-tools` first (`make test` does)", pytrace=False)
    return PROMTOOL


def test_the_alert_rules_pass_promtool(promtool: Path, tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": _rule_groups()}, sort_keys=False))
    (tmp_path / "alerts-test.yaml").write_text((BUNDLE / "alerts-test.yaml").read_text())
    checked = subprocess.run(
        [promtool, "check", "rules", tmp_path / "rules.yaml"], capture_output=True, text=True, check=False, timeout=120
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [promtool, "test", "rules", "alerts-test.yaml"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    alerts = {str(rule["alert"]) for group in _rule_groups() for rule in group["rules"]}  # type: ignore[attr-defined]
    tested_alerts = set(re.findall(r"alertname: (\w+)", (BUNDLE / "alerts-test.yaml").read_text()))
    assert tested_alerts == alerts, "every alert has a promtool unit test"
