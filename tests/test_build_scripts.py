"""The slow builds `make test` runs before pytest: a failure says why in one line, an interruption leaves
nothing compiling, and `--check` tells fresh from stale without building. Run on a copy of the script and
its inputs, with a stand-in `go` on PATH (the real build takes minutes; what is tested is the script)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT

MARKER = "317.25"  # a sleep duration nothing else uses, to find leftovers


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of scripts/build-e2e.sh with its inputs, nothing built yet."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "build-e2e.sh", tmp_path / "scripts" / "build-e2e.sh")
    shutil.copytree(ROOT / "tests" / "e2e" / "apiserver", tmp_path / "tests" / "e2e" / "apiserver")
    return tmp_path


def _fake_go(folder: Path, body: str) -> dict[str, str]:
    """A stand-in `go` running `body` (and `gcc`, for the static pause, doing the same)."""
    bin_dir = folder / "fake-bin"
    bin_dir.mkdir()
    for tool in ("go", "gcc"):
        fake = bin_dir / tool
        fake.write_text(f'#!/bin/sh\nif [ "$1" = env ]; then echo /nowhere; exit 0; fi\n{body}\n')
        fake.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def test_check_reports_missing_then_fresh(tree: Path) -> None:
    script = tree / "scripts" / "build-e2e.sh"
    missing = subprocess.run([script, "--check"], capture_output=True, text=True, check=False)
    assert (missing.returncode, missing.stdout.strip()) == (1, "missing")
    env = _fake_go(
        tree,
        'for a in "$@"; do case "$prev" in -o) mkdir -p "$(dirname "$a")"; : > "$a"; chmod +x "$a";; esac; prev=$a; done',
    )
    built = subprocess.run([script], capture_output=True, text=True, env=env, check=False, timeout=120)
    assert built.returncode == 0, built.stdout + built.stderr
    fresh = subprocess.run([script, "--check"], capture_output=True, text=True, check=False)
    assert (fresh.returncode, fresh.stdout.strip()) == (0, "fresh")
    (tree / "tests" / "e2e" / "apiserver" / "go.mod").write_text("module changed\n")
    stale = subprocess.run([script, "--check"], capture_output=True, text=True, check=False)
    assert stale.stdout.strip() == "stale"


def test_a_failed_build_says_why_in_one_line(tree: Path) -> None:
    env = _fake_go(tree, 'echo "go: k8s.io/kubernetes@v1.34.4: reading proxy: 403 Forbidden" >&2\nexit 1')
    result = subprocess.run(
        [tree / "scripts" / "build-e2e.sh"], capture_output=True, text=True, env=env, check=False, timeout=120
    )
    assert result.returncode == 1
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith(
        "build-e2e: FAILED: downloading the Go modules: go: k8s.io/kubernetes@v1.34.4: reading proxy: 403 Forbidden"
    )
    assert "(full log: .cache/e2e/build.log)" in last


def test_an_interrupted_build_leaves_nothing_running(tree: Path) -> None:
    env = _fake_go(tree, f"sleep {MARKER} &\nsleep {MARKER}")
    process = subprocess.Popen(
        [tree / "scripts" / "build-e2e.sh"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    deadline = time.monotonic() + 30
    while subprocess.run(["pgrep", "-f", f"sleep {MARKER}"], capture_output=True, check=False).returncode != 0:
        assert time.monotonic() < deadline, "the stand-in build never started"
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 130 and "build-e2e: interrupted" in output
    time.sleep(0.3)
    leftovers = subprocess.run(["pgrep", "-f", f"sleep {MARKER}"], capture_output=True, text=True, check=False)
    assert leftovers.stdout == "", "the build kept running after the interruption"


@pytest.fixture
def tool_tree(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "build-go-tool.sh", tmp_path / "scripts" / "build-go-tool.sh")
    return tmp_path


# The fake `go build` records its -ldflags in the built tool, which prints them as its version.
FAKE_BUILD = (
    'build) [ "$GOWORK" = off ] || exit 9; touch probe || exit 8; '
    'while [ "$1" != -ldflags ]; do shift; done; flags=$2; out=$4; '
    'printf "#!/bin/sh\\necho \\"%s\\"\\n" "$flags" > "$out"; chmod +x "$out";;'
)


@pytest.mark.parametrize(
    ("tool", "stamp"),
    [
        ("promtool", "github.com/prometheus/common/version.Version=3.16.0"),
        ("helm", "helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37"),
    ],
)
def test_a_go_tool_builds_from_a_copy_of_the_module_and_is_then_fresh(tool_tree: Path, tool: str, stamp: str) -> None:
    """`go mod download` gives the module folder (read-only, as Go leaves it); the build runs in a writable
    copy, with `go.work` ignored and the release's version stamps, and its output lands in .cache/tools.
    Helm's default Kubernetes version (for `helm template`) is derived from the module's client-go."""
    module = tool_tree / "module"
    (module / "cmd" / tool).mkdir(parents=True)
    (module / "go.mod").write_text("module example\n\nrequire (\n\tk8s.io/client-go v0.37.0\n)\n")
    module.chmod(0o555)
    script = tool_tree / "scripts" / "build-go-tool.sh"
    check = subprocess.run([script, tool, "--check"], capture_output=True, text=True, check=False)
    assert (check.returncode, check.stdout.strip()) == (1, "missing")
    env = _fake_go(tool_tree, f'case "$1" in mod) echo \'{{"Dir": "{module}"}}\';; {FAKE_BUILD} esac')
    built = subprocess.run([script, tool], capture_output=True, text=True, env=env, check=False, timeout=120)
    assert built.returncode == 0, built.stdout + built.stderr
    assert re.search(rf"built .cache/tools/{tool} in [0-9]+ s [(]", built.stdout) and stamp in built.stdout
    fresh = subprocess.run([script, tool, "--check"], capture_output=True, text=True, check=False)
    assert (fresh.returncode, fresh.stdout.strip()) == (0, "fresh")
    module.chmod(0o755)


def test_an_unknown_go_tool_is_refused(tool_tree: Path) -> None:
    result = subprocess.run(
        [tool_tree / "scripts" / "build-go-tool.sh", "kustomize"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2 and "usage: scripts/build-go-tool.sh promtool|helm" in result.stderr


def test_a_failed_go_tool_download_says_why_in_one_line(tool_tree: Path) -> None:
    env = _fake_go(tool_tree, 'echo "reading proxy: 403 Forbidden" >&2\nexit 1')
    result = subprocess.run(
        [tool_tree / "scripts" / "build-go-tool.sh", "helm"], capture_output=True, text=True, env=env, check=False,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert (
        result.stdout.strip()
        .splitlines()[-1]
        .startswith("build-go-tool: helm: FAILED: cannot download helm.sh/helm/v3@")
    )
    assert "403 Forbidden" in (tool_tree / ".cache" / "tools" / "helm.log").read_text()
