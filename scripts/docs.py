"""Writes the documentation pages generated from the code, so that they cannot drift from it:

- `docs/policies/<id>.md`: one page per policy, from the registry, `policies/docs/<id>.md` and the policy's
  golden example (`tests/golden/<id>/<case>`, which tests/policies/test_golden.py runs);
- `docs/reference/cli.md` (the argument parser), `settings.md` (the settings model: defaults, ranges, reasons),
  `helm-values.md` (the chart's values.yaml and its `# --` comments), `policies.md` (the registry) and
  `metrics.md` (the webhook's Prometheus registry);
- the README's policy and settings tables (between `<!-- generated:NAME -->` and `<!-- end -->`).

Usage: python scripts/docs.py           rewrite them
       python scripts/docs.py --check   exit 1 naming every file that is out of date (tests/docs runs it)
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
from collections.abc import Iterator
from functools import cache, partial
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from haproxy_guard.cli.arguments import build_parser
from haproxy_guard.policies.documentation import kinds, read
from haproxy_guard.policies.model.settings import DEFAULTS_IN_WORDS, Settings
from haproxy_guard.policies.policy import Policy
from haproxy_guard.policies.registry import ALL_POLICIES
from haproxy_guard.webhook.observability import Metrics

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CHART = ROOT / "charts" / "haproxy-guard"
GOLDEN = ROOT / "tests" / "golden"
README = ROOT / "README.md"
HELP_COLUMNS = "100"
"""argparse wraps help to the terminal's width: a fixed one makes the CLI reference the same everywhere."""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _policy_page(policy: Policy) -> str:

    doc = read(policy.id)
    fix = "yes: applied by the mutating webhook and `mutate`" if policy.fix is not None else "no: reported only"
    lines = [
        f"# {policy.id}",
        "",
        f"{policy.summary}.",
        "",
        "| | |",
        "|---|---|",
        f"| Default severity | `{policy.default_severity}` |",
        f"| Applies to | {', '.join(kinds(policy))} |",
        f"| Fix | {fix} |",
        "",
        doc.body.rstrip(),
        "",
        *_tuning(doc.settings),
        "## Change it or opt out",
        "",
        "In the [settings file](../reference/settings.md) (`--settings`, or the chart's `settings` value):",
        "",
        "```yaml",
        "policies:",
        f"  {policy.id}: warn   # deny | warn | off (off also turns its fix off)",
        "```",
        "",
        'One object opts out of every policy with the annotation `haproxy-guard.io/skip: "true"`; the skip is',
        "reported ([skip-annotation](skip-annotation.md)). `haproxy-guard explain "
        f"{policy.id}` prints this page's text.",
        "",
        *_example(policy.id, doc.example),
    ]
    return "\n".join(lines) + "\n"


def _tuning(keys: tuple[str, ...]) -> list[str]:
    """The settings that tune a policy, with their defaults and reasons (from the settings model)."""
    if not keys:
        return []
    rows = {key: (default, why) for key, default, _, why in _settings_rows()}
    unknown = [key for key in keys if key not in rows]
    if unknown:
        raise SystemExit(f"policies/docs names settings that do not exist: {', '.join(unknown)}")
    lines = ["## Settings that tune it", "", "| key | default | why |", "|---|---|---|"]
    lines += [f"| [`{key}`](../reference/settings.md) | {rows[key][0]} | {_cell(rows[key][1])} |" for key in keys]
    return [*lines, ""]


def _example(policy_id: str, case_name: str) -> list[str]:
    case = GOLDEN / policy_id / case_name
    source = case / "input.yaml"
    findings = yaml.safe_load((case / "findings.yaml").read_text(encoding="utf-8")) or []
    lines = [
        "## Example",
        "",
        f"From the golden case `tests/golden/{policy_id}/{case_name}` (the test suite runs it: "
        "`pytest tests/policies/test_golden.py`).",
        "",
        "Input:",
        "",
        "```yaml",
        source.read_text(encoding="utf-8").rstrip(),
        "```",
        "",
        "Findings:",
        "",
        "```yaml",
        yaml.safe_dump(findings, sort_keys=False, width=100).rstrip(),
        "```",
    ]
    mutated = case / "mutated.yaml"
    if mutated.exists():
        before = yaml.safe_dump(yaml.safe_load(source.read_text(encoding="utf-8")), sort_keys=False, width=100)
        after = yaml.safe_dump(yaml.safe_load(mutated.read_text(encoding="utf-8")), sort_keys=False, width=100)
        diff = list(difflib.unified_diff(before.splitlines(), after.splitlines(), "input", "mutated", lineterm=""))
        if diff:
            lines += ["", "What the fix changes:", "", "```diff", *diff, "```"]
    return lines


def _policies_reference() -> str:
    lines = [
        "# Policies",
        "",
        "Every policy, in the order the engine runs them (`policies/registry.py`); each id links to its page.",
        "`haproxy-guard policies` prints the same list.",
        "",
        "| id | default | applies to | fix | summary |",
        "|---|---|---|---|---|",
    ]
    for policy in ALL_POLICIES:
        fix = "yes" if policy.fix is not None else "no"
        lines.append(
            f"| [`{policy.id}`](../policies/{policy.id}.md) | `{policy.default_severity}` | "
            f"{', '.join(kinds(policy))} | {fix} | {_cell(policy.summary)} |"
        )
    return "\n".join(lines) + "\n"


@cache
def _settings_rows() -> tuple[tuple[str, str, str, str], ...]:
    """(key, default, range, reason) for every settings key, nested ones as `parent.child` (read once: the
    README, the settings reference and each policy page's settings use them)."""
    return tuple(_walk_settings(Settings, ""))


def _walk_settings(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, str, str, str]]:
    defaults = model()
    for name, info in model.model_fields.items():
        key = prefix + (info.alias or name)
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _walk_settings(annotation, key + ".")
            continue
        if key in DEFAULTS_IN_WORDS:
            default = DEFAULTS_IN_WORDS[key]
        else:
            value = getattr(defaults, name)
            value = list(value) if isinstance(value, tuple) else value
            value = str(value) if hasattr(value, "value") else value
            default = f"`{json.dumps(value)}`"
        bounds = [
            f"{symbol} {getattr(meta, attr)}"
            for meta in info.metadata
            for attr, symbol in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))
            if getattr(meta, attr, None) is not None
        ]
        if info.description is None:
            raise SystemExit(f"settings key {key} has no description (the reason for its default)")
        yield key, default, ", ".join(bounds), info.description


def _settings_reference() -> str:
    lines = [
        "# Settings",
        "",
        "`--settings FILE` (the CLI and `serve`), or the chart's `settings` value: YAML with camelCase keys. An",
        "unknown key, an unknown policy id or a value out of range is an error naming the file and key: a typo",
        "never falls back to a default silently. The chart's `values.schema.json` holds the same rules",
        "(`scripts/update-chart-schema.py`), so `helm install` refuses them too. Quote what YAML would read as",
        'something else: `"off"` (a bare `off` is `false`), `tlsMinVersion: "1.3"` (a bare 1.3 is a number); the',
        "error says so.",
        "",
        "Generated from the settings model (`policies/model/settings.py`): every key, its default, its range",
        "and why the default is what it is.",
        "",
        "| key | default | range | why |",
        "|---|---|---|---|",
    ]
    lines += [f"| `{key}` | {default} | {rng} | {_cell(why)} |" for key, default, rng, why in _settings_rows()]
    lines += [
        "",
        "Example:",
        "",
        "```yaml",
        (ROOT / "docs" / "examples" / "settings.yaml").read_text(encoding="utf-8").rstrip(),
        "```",
    ]
    return "\n".join(lines) + "\n"


OPAQUE_VALUES = {
    "resources", "checker.resources", "podSecurityContext", "securityContext", "settings", "affinity", "nodeSelector",
    "podAnnotations", "podLabels", "webhooks.namespaceSelector", "webhooks.objectSelector",
    "certificates.certManager.issuerRef", "metrics.serviceMonitor.labels", "metrics.prometheusRule.labels",
    "metrics.dashboard.labels", "tolerations", "extraEnv",
}  # fmt: skip
"""Values whose whole object or list is one row (passed through to Kubernetes, or the settings file)."""


def helm_values() -> list[tuple[str, str, str]]:
    """(key, default, comment) for every value of the chart's values.yaml, in file order: each `# --` comment
    documents the key below it; an opaque value (`OPAQUE_VALUES`) is one row with its whole default."""
    text = (CHART / "values.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    comments: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    pending: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            pending = [stripped[4:].strip()]
            continue
        if stripped.startswith("#") and pending:
            pending.append(stripped[1:].strip())
            continue
        match = re.match(r"^(\s*)([A-Za-z][\w.-]*):", line)
        if match is None:
            if not stripped:
                pending = []
            continue
        indent = len(match.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        key = ".".join([*(name for _, name in stack), match.group(2)])
        stack.append((indent, match.group(2)))
        if pending:
            comments[key] = " ".join(pending)
        pending = []

    rows: list[tuple[str, str, str]] = []

    def walk(node: Any, prefix: str) -> None:
        for name, child in node.items():
            key = prefix + name
            if isinstance(child, dict) and child and key not in OPAQUE_VALUES:
                walk(child, key + ".")
                continue
            default = (
                json.dumps(child)
                if not isinstance(child, dict | list) or len(json.dumps(child)) <= 60
                else "see values.yaml"
            )
            rows.append((key, default, comments.get(key) or _inherited(comments, key)))

    walk(data, "")
    return rows


def _inherited(comments: dict[str, str], key: str) -> str:
    """A key without its own comment: the nearest documented parent's comment (a group documented as a whole)."""
    parts = key.split(".")
    for end in range(len(parts) - 1, 0, -1):
        parent = ".".join(parts[:end])
        if parent in comments:
            return f"(see `{parent}`)"
    return ""


def _schema_type(schema: dict[str, Any], key: str) -> str:
    """What values.schema.json accepts at `key`: its type, choices and bounds, in a few words."""
    node: Any = schema
    for part in key.split("."):
        node = (node.get("properties") or {}).get(part) if isinstance(node, dict) else None
        if node is None:
            return ""
    if "enum" in node:
        return " \\| ".join(json.dumps(choice) for choice in node["enum"])
    kind = node.get("type", "")
    kind = " or ".join(kind) if isinstance(kind, list) else str(kind)
    bounds = [f"{symbol} {node[word]}" for word, symbol in (("minimum", ">="), ("maximum", "<=")) if word in node]
    return ", ".join([kind, *bounds]) if kind else ""


def _helm_reference() -> str:
    lines = [
        "# Helm values",
        "",
        "Generated from `charts/haproxy-guard/values.yaml`, its `# --` comments and `values.schema.json` (what each",
        "value accepts). The schema refuses unknown keys and wrong types, so a typo fails `helm install` instead",
        "of being ignored. The `settings` value is the [settings file](settings.md).",
        "",
        "| value | default | accepts | what and why |",
        "|---|---|---|---|",
    ]
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    lines += [
        f"| `{key}` | `{_cell(default)}` | {_schema_type(schema, key)} | {_cell(comment)} |"
        for key, default, comment in helm_values()
    ]
    return "\n".join(lines) + "\n"


def _metrics_reference() -> str:

    metrics = Metrics()
    lines = [
        "# Metrics",
        "",
        "The webhook's Prometheus metrics (`GET /metrics`, on the webhook port or `--metrics-port`), generated from",
        "its registry (`webhook/observability.py`). The [alerts and the dashboard](../operations/observability.md)",
        "are built on them.",
        "",
        "| metric | type | labels | what |",
        "|---|---|---|---|",
    ]
    # prometheus_client's metric objects keep name, help, type and label names in attributes of their own; no
    # public accessor gives the label names of a metric not yet observed (its samples are empty)
    for value in vars(metrics).values():
        name = getattr(value, "_name", None)
        if name is None or not hasattr(value, "_documentation"):
            continue
        kind = getattr(value, "_type", "")
        suffix = "_total" if kind == "counter" else ""
        labels = ", ".join(f"`{label}`" for label in getattr(value, "_labelnames", ()))
        lines.append(f"| `{name}{suffix}` | {kind} | {labels} | {_cell(value._documentation)} |")
    return "\n".join(lines) + "\n"


def _cli_reference() -> str:
    os.environ["COLUMNS"] = HELP_COLUMNS

    parser = build_parser()
    parser.prog = "haproxy-guard"
    lines = [
        "# Command line",
        "",
        "Generated from the argument parser (`cli/arguments.py`): `haproxy-guard COMMAND --help` prints the same.",
        "Exit codes: 0 success, 1 findings (`audit`, `mutate`, `check-config`, `drill`), 2 bad input or usage, with",
        "a message naming the file and document.",
        "",
        "```text",
        parser.format_help().rstrip(),
        "```",
    ]
    for command, sub in _commands(parser):
        lines += ["", f"## `{command}`", "", "```text", sub.format_help().rstrip(), "```"]
    return "\n".join(lines) + "\n"


def _commands(parser: argparse.ArgumentParser, prefix: str = "") -> Iterator[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield prefix + name, sub
                yield from _commands(sub, prefix + name + " ")


def _policy_rows(folder: str) -> str:
    rows = ["| id | default | what |", "|---|---|---|"]
    rows += [f"| [`{p.id}`]({folder}{p.id}.md) | `{p.default_severity}` | {_cell(p.summary)} |" for p in ALL_POLICIES]
    return "\n".join(rows)


def _readme_blocks() -> dict[str, str]:
    settings = ["| key | default | why |", "|---|---|---|"]
    settings += [f"| `{key}` | {default} | {_cell(why)} |" for key, default, _, why in _settings_rows()]
    return {"policies": _policy_rows("docs/policies/"), "settings": "\n".join(settings)}


def _between(block: str, match: re.Match[str]) -> str:
    return match.group(1) + block + "\n" + match.group(2)


def _with_blocks(path: Path, blocks: dict[str, str]) -> str:
    """The file at `path` with each `<!-- generated:NAME -->` block's content replaced by `blocks[NAME]`."""
    text = path.read_text(encoding="utf-8")
    for name, block in blocks.items():
        pattern = re.compile(rf"(<!-- generated:{name} -->\n)(?:(?!<!--).*?\n)?(<!-- end -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"{path.name} has no <!-- generated:{name} --> block")
        text = pattern.sub(partial(_between, block), text)
    return text


def pages() -> dict[Path, str]:
    """Every generated file and its content."""

    out = {DOCS / "policies" / f"{policy.id}.md": _policy_page(policy) for policy in ALL_POLICIES}
    out[DOCS / "reference" / "policies.md"] = _policies_reference()
    out[DOCS / "reference" / "settings.md"] = _settings_reference()
    out[DOCS / "reference" / "helm-values.md"] = _helm_reference()
    out[DOCS / "reference" / "metrics.md"] = _metrics_reference()
    out[DOCS / "reference" / "cli.md"] = _cli_reference()
    out[README] = _with_blocks(README, _readme_blocks())
    index = DOCS / "policies" / "index.md"
    out[index] = _with_blocks(index, {"policies": _policy_rows("")})
    return out


def main(argv: list[str]) -> int:
    stale = []
    for path, content in pages().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == content:
            continue
        if "--check" in argv:
            stale.append(str(path.relative_to(ROOT)))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
    if stale:
        print("out of date (run `python scripts/docs.py`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
