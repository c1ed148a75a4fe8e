"""The README is the front door: the two commands first, under 200 lines, every policy (id and default
severity) and every settings key (the contract asks for both there); the rest of what it used to say has a
home in the documentation site (docs/), and the pages that took it over keep saying it."""

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
DOCS = ROOT / "docs"


def _table_rows(header: str, text: str = README) -> dict[str, list[str]]:
    section = text.split(header, 1)[1]
    rows = {}
    for line in section.splitlines():
        if line.startswith(("| `", "| [`")):
            cells = [cell.strip() for cell in line.strip("|").split(" | ")]
            rows[re.sub(r"^\[`(.+?)`\]\(.*\)$", r"\1", cells[0]).strip("`")] = cells[1:]
        elif rows and not line.startswith("|"):
            break
    return rows


def test_the_readme_opens_with_the_two_commands() -> None:
    first_block = README.split("```", 2)[1]
    assert "make run" in first_block and "make test" in first_block


def test_the_readme_stays_a_front_door() -> None:
    assert len(README.splitlines()) < 200
    for page in ("docs/getting-started.md", "docs/policies/index.md", "docs/reference/cli.md", "docs/gitops.md"):
        assert f"]({page})" in README, page


def test_every_policy_has_a_row_with_its_default_and_page() -> None:
    rows = _table_rows("| id | default | what |")
    assert list(rows) == [policy.id for policy in ALL_POLICIES]
    for policy in ALL_POLICIES:
        assert rows[policy.id][0] == f"`{policy.default_severity}`", policy.id
        assert f"[`{policy.id}`](docs/policies/{policy.id}.md)" in README


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
    section = (DOCS / "proof" / "drill.md").read_text(encoding="utf-8")
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


def test_every_chart_value_has_a_row_that_says_what_it_is() -> None:
    """Every key of charts/haproxy-guard/values.yaml, in order, has a row in the Helm values reference, with the
    `# --` comment values.yaml gives it (or its documented parent's); every row names a key."""
    values = yaml.safe_load((ROOT / "charts" / "haproxy-guard" / "values.yaml").read_text())
    page = (DOCS / "reference" / "helm-values.md").read_text(encoding="utf-8")
    rows = _table_rows("| value | default | accepts | what and why |", page)
    assert list(rows) == _value_keys(values)
    assert [key for key, cells in rows.items() if not cells[2]] == []
    assert rows["replicas"][1] == "integer, >= 0", "what values.schema.json accepts"


def _branches(text: str) -> list[str]:
    return re.findall(r"\b(\d\.\d)\b", text)


def test_the_image_validators_said_are_the_maintained_branches() -> None:
    """The install page's image section and the Dockerfile's header name every branch the image carries (the
    image test checks the image itself against the same list)."""
    page = (DOCS / "operations" / "install.md").read_text()
    said = re.search(r"Validators: ([^.]*(?:\.\d[^.]*)*)\.", page.split("- **Image** (`Dockerfile`)", 1)[1])
    assert said is not None, "the install page's image section names its validators"
    assert _branches(said.group(1)) == list(MAINTAINED_BRANCHES), said.group(1)
    header = (ROOT / "Dockerfile").read_text().split("\n\n", 1)[0]
    first = header.splitlines()[0]
    assert _branches(first) == [MAINTAINED_BRANCHES[0], MAINTAINED_BRANCHES[-1]], first


OLD_README_SECTIONS = {
    "What it does": "index.md",
    "Policies": "policies/index.md",
    "HAProxy families": "policies/families.md",
    "Settings": "reference/settings.md",
    "HAProxy configuration checks": "configuration-checks.md",
    "Memory estimate": "configuration-checks.md",
    "`haproxy-guard check-config FILE...": "configuration-checks.md",
    "GitOps gating and audits": "gitops.md",
    "CI gating": "gitops.md",
    "Input that fails loudly": "gitops.md",
    "`mutate` output you can commit": "gitops.md",
    "Helm post-renderer": "gitops.md",
    "Argo CD": "gitops.md",
    "Flux": "gitops.md",
    "The real-world corpus": "gitops.md",
    "Proving it on real HAProxy": "proof/drill.md",
    "The campaign: 10 runs of each scenario on each branch": "proof/drill.md",
    "The webhook": "operations/webhook.md",
    "The ConfigMap life cycle: from edit to rolled pods": "operations/webhook.md",
    "Certificates": "operations/webhook.md",
    "Install in a cluster": "operations/install.md",
    "With Helm": "operations/install.md",
    "With kustomize": "operations/install.md",
    "Without a webhook: `haproxy-guard export --format validating-admission-policy`": "operations/install.md",
    "Failure design": "operations/failure-design.md",
    "Limits and faults": "operations/failure-design.md",
    "Observability": "operations/observability.md",
    "End-to-end tests against a real kube-apiserver": "proof/e2e.md",
    "Proof on a real node": "proof/node.md",
    "Architecture": "architecture.md",
}
"""Each section of the README before the site (933-1,263 lines): the page that holds it now, as a heading."""


def test_every_section_the_readme_had_has_a_home() -> None:
    for title, page in OLD_README_SECTIONS.items():
        headings = [line.lstrip("#").strip() for line in (DOCS / page).read_text().splitlines() if line.startswith("#")]
        assert any(heading.startswith(title) or title.startswith(heading) for heading in headings), (title, page)
