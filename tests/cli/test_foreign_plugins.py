"""Code the program does not import never runs in it: a pydantic plugin that some installed distribution
declares (an entry point in group `pydantic`) is not loaded by `haproxy-guard`, unless the user turns plugins
back on with `PYDANTIC_DISABLE_PLUGINS`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

PLUGIN = """
from pathlib import Path
import os
Path(os.environ["PLUGIN_MARKER"]).write_text("loaded")

class Plugin:
    def new_schema_validator(self, *args, **kwargs):
        return None, None, None

plugin = Plugin()
"""


def _environment(tmp_path: Path) -> dict[str, str]:
    """A folder on the path holding a distribution whose entry point declares a pydantic plugin."""
    site = tmp_path / "site"
    (site / "foreign_plugin-1.0.dist-info").mkdir(parents=True)
    (site / "foreign_plugin-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: foreign-plugin\nVersion: 1.0\n"
    )
    (site / "foreign_plugin-1.0.dist-info" / "entry_points.txt").write_text(
        "[pydantic]\nforeign = foreign_plugin:plugin\n"
    )
    (site / "foreign_plugin.py").write_text(PLUGIN)
    env = {key: value for key, value in os.environ.items() if key != "PYDANTIC_DISABLE_PLUGINS"}
    return {**env, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]), "PLUGIN_MARKER": str(tmp_path / "marker")}


def _audit(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-c",
        "import sys; from haproxy_guard.cli.entry import main; sys.exit(main(sys.argv[1:]))",
    ]
    example = ROOT / "tests" / "scenarios" / "broken-config-and-recreate" / "resources.yaml"
    return subprocess.run(
        [*command, "audit", str(example)], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_a_declared_pydantic_plugin_is_not_loaded(tmp_path: Path) -> None:
    done = _audit(_environment(tmp_path))
    assert done.returncode == 1, done.stderr  # findings: the audit ran and built its settings model
    assert not (tmp_path / "marker").exists()


@pytest.mark.parametrize("setting", ["", "other-plugin"])
def test_the_user_may_turn_plugins_back_on(tmp_path: Path, setting: str) -> None:
    """The same distribution is loaded when the variable says so: the test above can fail."""
    done = _audit({**_environment(tmp_path), "PYDANTIC_DISABLE_PLUGINS": setting})
    assert done.returncode == 1, done.stderr
    assert (tmp_path / "marker").read_text() == "loaded"
