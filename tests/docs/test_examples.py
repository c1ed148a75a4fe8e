"""What the documentation shows runs: every `console` block in the README and docs/ is a `haproxy-guard` command
run here from the repository's root, whose output must be the one shown; the example settings file is valid
settings; the Kubernetes objects written out whole in the pages validate against Kubernetes' schemas."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from haproxy_guard.policies.settings_file import load_settings
from tests.helpers import ROOT, assert_valid_kubernetes

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.S | re.M)


def _blocks(language: str) -> list[tuple[str, str]]:
    return [
        (f"{page.relative_to(ROOT)}#{index}", match.group(2))
        for page in PAGES
        for index, match in enumerate(FENCE.finditer(page.read_text(encoding="utf-8")))
        if match.group(1) == language
    ]


CONSOLE = _blocks("console")


def test_the_readme_and_the_getting_started_page_show_real_runs() -> None:
    where = {name.split("#")[0] for name, _ in CONSOLE}
    assert {"README.md", "docs/getting-started.md"} <= where


@pytest.mark.slow
@pytest.mark.parametrize(("name", "block"), CONSOLE, ids=[name for name, _ in CONSOLE])
def test_a_console_block_shows_what_the_command_prints(name: str, block: str) -> None:
    """`$ haproxy-guard ARGS` then its standard output, exactly (exit 0 or 1: findings are output too)."""
    first, _, shown = block.partition("\n")
    assert first.startswith("$ haproxy-guard "), f"{name}: a console block runs one haproxy-guard command"
    result = subprocess.run(
        [sys.executable, "-m", "haproxy_guard.cli", *shlex.split(first.removeprefix("$ haproxy-guard "))],
        capture_output=True, text=True, cwd=ROOT, timeout=120, check=False, env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    assert result.stdout.rstrip("\n") == shown.rstrip("\n"), f"{name}: the output shown is not what `{first}` prints"


def test_the_example_settings_file_is_valid_settings() -> None:
    settings = load_settings(ROOT / "docs" / "examples" / "settings.yaml")
    assert settings.mode == "audit" and settings.pre_stop_seconds == 15


def _whole_objects() -> list[tuple[str, dict[str, object]]]:
    found = []
    for name, block in _blocks("yaml"):
        try:
            documents = list(yaml.safe_load_all(block))
        except yaml.YAMLError:
            continue  # a fragment (a values file excerpt, a step of a CI job)
        for document in documents:
            if isinstance(document, dict) and {"apiVersion", "kind", "metadata"} <= set(document):
                found.append((name, document))
    return found


OBJECTS = _whole_objects()


@pytest.mark.parametrize(("name", "obj"), OBJECTS, ids=[name for name, _ in OBJECTS])
def test_a_kubernetes_object_shown_whole_is_valid(name: str, obj: dict[str, object]) -> None:
    if "." in str(obj["apiVersion"]).split("/")[0] and not str(obj["apiVersion"]).startswith(
        ("apps/", "policy/", "batch/", "admissionregistration.k8s.io/", "networking.k8s.io/", "autoscaling/")
    ):
        pytest.skip(f"{obj['apiVersion']}: a custom resource, no schema here")
    assert_valid_kubernetes(obj)


def _documented_commands() -> list[tuple[str, str]]:
    """Every `haproxy-guard ...` command in the pages' shell, YAML and console blocks (a pipeline's part, a CI
    step's `run:`), without its redirections; usage lines (with `[...]`) are not commands."""
    found = []
    for language in ("sh", "bash", "console", "yaml"):
        for name, block in _blocks(language):
            for line in block.replace("\\\n", " ").splitlines():
                for part in re.split(r"\||&&|;|\$\(", line):
                    command = part.split(" #")[0].split(">")[0].strip().lstrip("-$ ").removeprefix("run: ").strip()
                    if command.startswith("haproxy-guard ") and "[" not in command:
                        found.append((name, command))
    return found


COMMANDS = _documented_commands()


def test_the_pages_show_commands() -> None:
    assert len(COMMANDS) >= 15


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[f"{name}:{command}" for name, command in COMMANDS])
def test_every_documented_command_is_one_the_cli_accepts(name: str, command: str) -> None:
    """Each command shown parses with the real argument parser: no option or choice the CLI does not have."""
    from haproxy_guard.cli.arguments import build_parser

    try:
        build_parser().parse_args(shlex.split(command)[1:])
    except SystemExit as exit_:
        pytest.fail(f"{name}: `{command}` is refused by the CLI (exit {exit_.code})")


SLOW_OR_LONG_RUNNING = ("drill", "serve", "checker", "certs", "validators")
"""Commands the snippets below do not run: the drill (minutes; tests/drill runs it on the same examples),
servers, and commands that write certificates or install validators (their own tests run them)."""


@pytest.fixture
def deploy(tmp_path: Path) -> Path:
    """A stand-in for the `deploy/` folder the pages' snippets name: the repository's examples."""
    folder = tmp_path / "deploy"
    folder.mkdir()
    for example in (ROOT / "examples").glob("*.yaml"):
        (folder / example.name).write_text(example.read_text())
    (folder / "edge.yaml").write_text((ROOT / "examples" / "haproxy-deployment.yaml").read_text())
    return folder


RUNNABLE = [(name, command) for name, command in COMMANDS if shlex.split(command)[1] not in SLOW_OR_LONG_RUNNING]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "command"), RUNNABLE, ids=[f"{name}:{command}" for name, command in RUNNABLE])
def test_every_documented_command_runs_on_the_examples(name: str, command: str, deploy: Path) -> None:
    """Each shell snippet's command, run here: `deploy/` is a copy of the examples, standard input the example
    manifests. It answers (exit 0, or 1 for findings), never a usage or input error, and prints something."""
    args = [arg.replace("deploy/", f"{deploy}/") for arg in shlex.split(command)[1:]]
    stdin = "---\n".join(path.read_text() for path in sorted((ROOT / "examples").glob("*.yaml")))
    result = subprocess.run(
        [sys.executable, "-m", "haproxy_guard.cli", *args],
        input=stdin, capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode in (0, 1), f"{name}: `{command}`: {result.stderr}"
    assert result.stdout or "--check" in args, f"{name}: `{command}` printed nothing"
