"""The real-world corpus (sources.yaml): each source rendered as its users render it, in every variant.

A chart is rendered with `helm template` (the helm `make e2e-tools` builds) with its default values and with
each values file of its own `ci/` folder; a manifest is read as it is; a Markdown document gives the YAML block
after a marker line; a Jinja template gets the variables the source lists (only `{{ name }}` and
`{% if name is defined %}` blocks occur in it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tests.helpers import ROOT

CORPUS = ROOT / "tests" / "charts"
VENDOR = CORPUS / "vendor"
FINDINGS = CORPUS / "findings"
HELM = ROOT / ".cache" / "tools" / "helm"
RELEASE, NAMESPACE = "rel", "corpus"


@dataclass(frozen=True)
class Source:
    id: str
    repository: str
    commit: str
    path: str
    render: str
    values: dict[str, str] = field(default_factory=dict)
    variants: dict[str, dict[str, str] | str] = field(default_factory=dict)
    """Variants of ours: `--set` pairs, or the name of a values file in values/."""
    dependencies: dict[str, str] = field(default_factory=dict)
    after: str | None = None

    @property
    def folder(self) -> Path:
        owner, name = self.repository.removeprefix("https://github.com/").split("/")
        return VENDOR / f"{owner}+{name}"

    @property
    def location(self) -> Path:
        return self.folder / self.path


@cache
def sources() -> tuple[Source, ...]:
    return tuple(Source(**entry) for entry in yaml.safe_load((CORPUS / "sources.yaml").read_text()))


def variants(source: Source) -> list[str]:
    """The variant names of a source: `default`, each ci/ values file of a chart, the source's own variants."""
    if source.render != "chart":
        return ["default"]
    ci = (
        sorted(path.name for path in (source.location / "ci").glob("*.yaml"))
        if (source.location / "ci").is_dir()
        else []
    )
    return ["default", *(f"ci/{name}" for name in ci), *source.variants]


def _helm(*args: str) -> str:
    if not HELM.exists():  # built by `make e2e-tools`, never inside a test
        raise RuntimeError("helm is missing: run `make e2e-tools` first (`make test` does)")
    result = subprocess.run([str(HELM), *args], capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"helm {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def _jinja(text: str, values: dict[str, str]) -> str:
    """Jinja's `{% if NAME is defined %}...{% endif %}` and `{{ NAME }}`, with its whitespace control: `-%}`
    removes the whitespace after a tag, `{%-` the whitespace before it (no other statement occurs)."""
    text = re.sub(r"\s*\{%-", "{%", text)
    text = re.sub(r"-%\}\s*", "%}", text)

    def block(match: re.Match[str]) -> str:
        return match.group(2) if match.group(1) in values else ""

    text = re.sub(r"\{% if (\S+) is defined %\}(.*?)\{% endif %\}", block, text, flags=re.DOTALL)
    return re.sub(r"\{\{\s*([\w.]+)\s*\}\}", lambda match: values[match.group(1)], text)


def _markdown_block(text: str, marker: str) -> str:
    after = text[text.index(marker) + len(marker) :]
    start = after.index("```yaml\n") + len("```yaml\n")
    return after[start : after.index("```", start)]


@cache
def render(source_id: str, variant: str) -> str:
    source = next(s for s in sources() if s.id == source_id)
    if source.render == "manifest":
        return source.location.read_text(encoding="utf-8")
    if source.render == "markdown-block":
        assert source.after is not None
        return _markdown_block(source.location.read_text(encoding="utf-8"), source.after)
    if source.render == "jinja":
        return _jinja(source.location.read_text(encoding="utf-8"), source.values)
    args = [arg for key, value in source.values.items() for arg in ("--set", f"{key}={value}")]
    if variant.startswith("ci/"):
        args += ["-f", str(source.location / variant)]
    elif variant != "default":
        chosen = source.variants[variant]
        if isinstance(chosen, str):
            args += ["-f", str(CORPUS / "values" / chosen)]
        else:
            args += [arg for key, value in chosen.items() for arg in ("--set", f"{key}={value}")]
    with tempfile.TemporaryDirectory(prefix="corpus-") as folder:
        chart = Path(folder) / source.location.name
        shutil.copytree(source.location, chart)
        for name, path in source.dependencies.items():
            shutil.copytree(source.folder / path, chart / "charts" / name)
        return _helm("template", RELEASE, str(chart), "--namespace", NAMESPACE, *args)


def cases() -> list[tuple[str, str]]:
    return [(source.id, variant) for source in sources() for variant in variants(source)]


def finding_key(kind: str, name: str, policy: str, severity: str) -> str:
    return f"{kind}/{name} {policy} {severity}"


def golden_path(source_id: str) -> Path:
    return FINDINGS / f"{source_id}.yaml"


def load_golden(source_id: str) -> dict[str, Any]:
    path = golden_path(source_id)
    return yaml.safe_load(path.read_text()) or {} if path.exists() else {}
