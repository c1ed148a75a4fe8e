"""The README documents every policy (id and default severity), every settings key and every chart value."""

from __future__ import annotations

import argparse
import re

import yaml
from pydantic import BaseModel

from haproxy_guard.policies.haproxy.validator import MAINTAINED_BRANCHES
from haproxy_guard.policies.model.settings import ReadinessProbeSettings, RolloutControllerSettings, Settings
from haproxy_guard.policies.registry import ALL_POLICIES
from tests.helpers import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _table_rows(header: str) -> dict[str, list[str]]:
    section = README.split(header, 1)[1]
    rows = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip("|").split(" | ")]
            rows[cells[0].strip("`")] = cells[1:]
        elif rows and not line.startswith("|"):
            break
    return rows


def test_the_readme_opens_with_the_two_commands() -> None:
    first_block = README.split("```", 2)[1]
    assert "make run" in first_block and "make test" in first_block


def test_every_policy_has_a_row_with_its_default() -> None:
    rows = _table_rows("| id | what | default | why |")
    assert list(rows) == [policy.id for policy in ALL_POLICIES]
    for policy in ALL_POLICIES:
        assert rows[policy.id][1] == str(policy.default_severity), policy.id


def test_every_setting_has_a_row() -> None:
    rows = _table_rows("| key | default | why |")
    nested: dict[str, type[BaseModel]] = {
        "readiness_probe": ReadinessProbeSettings,
        "rollout_controller": RolloutControllerSettings,
    }
    fields = [info.alias or name for name, info in Settings.model_fields.items() if name not in nested]
    for name, model in nested.items():
        prefix = Settings.model_fields[name].alias or name
        fields += [f"{prefix}.{info.alias or field}" for field, info in model.model_fields.items()]
    assert sorted(rows) == sorted(fields)
    defaults = Settings()
    for key in ("preStopSeconds", "drainSeconds", "graceMarginSeconds", "minReadySeconds", "maxBodyBytes"):
        value = getattr(defaults, re.sub(r"([A-Z])", r"_\1", key).lower())
        assert rows[key][0].startswith(f"`{value}`"), key


def test_every_drill_option_is_documented() -> None:
    from haproxy_guard.cli.arguments import build_parser

    commands = next(action for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction))
    drill = commands.choices["drill"]
    section = README.split("## Proving it on real HAProxy: `haproxy-guard drill`", 1)[1].split("\n## ", 1)[0]
    options = [option for action in drill._actions for option in action.option_strings if option.startswith("--")]
    assert {"--scenario", "--runs", "--plot", "--format", "--endpoint-lag", "--rate"} <= set(options)
    assert [option for option in options if option not in section and option != "--help"] == []


# Values whose whole object or list is one row (passed through to Kubernetes, or the settings file).
OPAQUE_VALUES = {
    "resources", "checker.resources", "podSecurityContext", "securityContext", "settings", "affinity", "nodeSelector", "podAnnotations",
    "podLabels", "webhooks.namespaceSelector", "webhooks.objectSelector", "certificates.certManager.issuerRef",
    "metrics.serviceMonitor.labels", "metrics.prometheusRule.labels", "metrics.dashboard.labels",
}  # fmt: skip


def _value_keys(node: object, prefix: str = "") -> list[str]:
    if isinstance(node, dict) and node and prefix.rstrip(".") not in OPAQUE_VALUES:
        return [key for name, child in node.items() for key in _value_keys(child, f"{prefix}{name}.")]
    return [prefix.rstrip(".")]


def test_every_chart_value_has_a_row() -> None:
    """Every key of charts/haproxy-guard/values.yaml, in order, has a row in "With Helm"; every row names a key."""
    values = yaml.safe_load((ROOT / "charts" / "haproxy-guard" / "values.yaml").read_text())
    rows = _table_rows("| value | default | what and why |")
    assert list(rows) == _value_keys(values)


def _branches(text: str) -> list[str]:
    return re.findall(r"\b(\d\.\d)\b", text)


def test_the_image_validators_said_are_the_maintained_branches() -> None:
    """The README's image section and the Dockerfile's header name every branch the image carries (the image
    test checks the image itself against the same list)."""
    readme = (ROOT / "README.md").read_text()
    said = re.search(r"Validators: ([^.]*(?:\.\d[^.]*)*)\.", readme.split("- **Image** (`Dockerfile`)", 1)[1])
    assert said is not None, "the README's image section names its validators"
    assert _branches(said.group(1)) == list(MAINTAINED_BRANCHES), said.group(1)
    header = (ROOT / "Dockerfile").read_text().split("\n\n", 1)[0]
    first = header.splitlines()[0]
    assert _branches(first) == [MAINTAINED_BRANCHES[0], MAINTAINED_BRANCHES[-1]], first
