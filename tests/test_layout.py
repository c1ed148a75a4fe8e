"""The layout says the design, and imports keep to it: one `haproxy_guard` namespace; the server never imports
the command line; the domain imports neither; a policy never imports another policy; the model never
imports a policy or the engine; no import cycles; every module says what it owns."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from tests.helpers import ROOT

PACKAGE = ROOT / "haproxy_guard"


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    paths = [Path(folder) / name for folder, _, names in os.walk(PACKAGE, followlinks=True) for name in names]
    for path in (path for path in paths if path.suffix == ".py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(("haproxy_guard", *parts)).removesuffix(".__init__")
        found[name] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """Modules of this project that `path` imports, also under TYPE_CHECKING (a loop for the type checker
    is still a loop in the design)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("haproxy_guard"):
            found.add(node.module)
            found.update(
                f"{node.module}.{alias.name}" for alias in node.names if f"{node.module}.{alias.name}" in MODULES
            )
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("haproxy_guard"))
    return {name for name in found if name in MODULES}


GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def test_the_namespace_holds_the_design_card_folders() -> None:
    for folder in ("webhook", "policies", "certs", "cli", "drill"):
        assert (PACKAGE / folder).resolve() == (ROOT / folder).resolve()
    assert {"haproxy_guard.policies.rules", "haproxy_guard.policies.model", "haproxy_guard.policies.haproxy"} <= set(
        MODULES
    )


@pytest.mark.parametrize(
    ("importer", "forbidden"),
    [
        pytest.param("haproxy_guard.webhook", "haproxy_guard.cli", id="server-never-imports-the-command-line"),
        pytest.param("haproxy_guard.policies", "haproxy_guard.webhook", id="domain-never-imports-the-server"),
        pytest.param("haproxy_guard.policies", "haproxy_guard.cli", id="domain-never-imports-the-command-line"),
        pytest.param("haproxy_guard.webhook", "haproxy_guard.drill", id="server-never-imports-the-drill"),
        pytest.param("haproxy_guard.policies", "haproxy_guard.drill", id="domain-never-imports-the-drill"),
        pytest.param("haproxy_guard.certs", "haproxy_guard.policies", id="certificates-stand-alone"),
        pytest.param("haproxy_guard.policies.model", "haproxy_guard.policies.rules", id="model-never-imports-a-policy"),
        pytest.param(
            "haproxy_guard.policies.model", "haproxy_guard.policies.engine", id="model-never-imports-the-engine"
        ),
        pytest.param(
            "haproxy_guard.policies.haproxy", "haproxy_guard.policies.rules", id="haproxy-never-imports-a-policy"
        ),
        pytest.param("haproxy_guard.policies.haproxy", "haproxy_guard.policies.model", id="haproxy-below-the-model"),
    ],
)
def test_import_direction(importer: str, forbidden: str) -> None:
    offending = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        if module == importer or module.startswith(importer + ".")
        for target in targets
        if target == forbidden or target.startswith(forbidden + ".")
    )
    assert offending == []


def test_a_policy_never_imports_another_policy() -> None:
    rules = {name for name in MODULES if name.startswith("haproxy_guard.policies.rules.")}
    offending = sorted(f"{rule} -> {target}" for rule in rules for target in GRAPH[rule] if target in rules)
    assert offending == []


def test_one_module_per_policy_id() -> None:
    from haproxy_guard.policies.registry import ALL_POLICIES

    rules = {name.rsplit(".", 1)[1] for name in MODULES if name.startswith("haproxy_guard.policies.rules.")}
    assert rules == {policy.id.replace("-", "_") for policy in ALL_POLICIES}


def test_no_import_cycles() -> None:
    visiting: list[str] = []
    done: set[str] = set()

    def visit(module: str) -> None:
        if module in done:
            return
        assert module not in visiting, "import cycle: " + " -> ".join([*visiting[visiting.index(module) :], module])
        visiting.append(module)
        for target in GRAPH[module]:
            if target != module and not module.startswith(target + "."):  # a package's own __init__ is fine
                visit(target)
        visiting.pop()
        done.add(module)

    for module in sorted(GRAPH):
        visit(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_says_what_it_owns(module: str) -> None:
    assert ast.get_docstring(ast.parse(MODULES[module].read_text())), f"{module} has no module docstring"


CHECKOUT_FOLDERS = ("cli", "policies", "webhook", "drill", "certs")
"""The folders `haproxy_guard/` links to. The development install puts the checkout on the path (Makefile:
`editable_mode=compat`), so they also import by their own names, which no installed copy can."""


def test_nothing_imports_the_checkout_folders_by_their_own_names() -> None:
    sources = [
        path
        for folder in (*CHECKOUT_FOLDERS, "haproxy_guard", "tests", "bench", "scripts")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if not (ROOT / folder).is_symlink()
    ]
    assert len(sources) > 200 and ROOT / "policies" / "engine.py" in sources
    wrong: list[str] = []
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            wrong += [f"{path.relative_to(ROOT)}: {name}" for name in names if name.split(".")[0] in CHECKOUT_FOLDERS]
    assert not wrong
