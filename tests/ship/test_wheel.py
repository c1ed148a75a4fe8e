"""The wheel installs one import namespace, `haproxy_guard`, so it lives beside the PyPI distributions named
`certs` and `policies` (whose top-level packages have the names of our folders): built here, installed into
a clean virtual environment together with both, it runs `--help` and an audit, and neither side shadows the
other."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from tests.helpers import ROOT

# pip downloads (or reads its cache) inside this test: the timeout is lifted for it alone.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # what an earlier build left in setuptools' build folder (a module compiled then, dropped from the list
    # since) must not reach the wheel: the build starts from an empty folder
    stale = ROOT / "build" / f"lib.{sysconfig.get_platform()}-cpython-{sys.version_info[0]}{sys.version_info[1]}"
    stale = stale / "haproxy_guard" / "policies" / f"stale_module{sysconfig.get_config_var('EXT_SUFFIX')}"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"not a module")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(ROOT)],
        check=True,
        timeout=600,
    )
    (built,) = out.glob("haproxy_guard-*.whl")
    return built


def test_the_wheel_holds_one_top_level_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/", 1)[0] for name in archive.namelist()}
        names = set(archive.namelist())
    assert {top for top in tops if not top.endswith(".dist-info")} == {"haproxy_guard"}
    for module in (
        "webhook/app.py",
        "policies/engine.py",
        "certs/authority.py",
        "cli/main.py",
        "policies/haproxy/jail.py",
    ):
        assert f"haproxy_guard/{module}" in names
    assert "haproxy_guard/py.typed" in names
    assert "haproxy_guard/policies/docs/prestop-wait.md" in names, "`explain` reads the policies' documentation"
    assert not [name for name in names if "stale_module" in name], "a stale build output reached the wheel"
    compiled = [name for name in names if name.endswith(".so")]
    assert any("native__mypyc" in name for name in compiled), "the wheel's hot path is not compiled"


def test_installs_beside_pypi_certs_and_policies(wheel: Path, tmp_path: Path) -> None:
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "certs", "policies"], check=True, timeout=600)
    subprocess.run([*pip, str(wheel)], check=True, timeout=600)

    where = subprocess.run(
        [str(python), "-c", "import certs, policies, haproxy_guard.certs.authority as ours, haproxy_guard.policies.engine as engine, json; "
         "print(json.dumps([certs.__file__, policies.__file__, ours.__file__, engine.__file__]))"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    theirs_certs, theirs_policies, ours_certs, ours_engine = (Path(path) for path in json.loads(where.stdout))
    site = ours_certs.parents[2]
    assert theirs_certs.parent == site / "certs" or theirs_certs.parent == site, theirs_certs
    assert theirs_policies.is_relative_to(site / "policies"), theirs_policies
    assert ours_certs.is_relative_to(site / "haproxy_guard") and ours_engine.is_relative_to(site / "haproxy_guard")

    executable = environment / "bin" / "haproxy-guard"
    helped = subprocess.run([str(executable), "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert helped.returncode == 0 and "audit" in helped.stdout, helped.stderr
    audited = subprocess.run(
        [str(executable), "audit", str(ROOT / "examples"), "--format", "json"],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert audited.returncode == 1, audited.stderr
    report = json.loads(audited.stdout)
    assert report["summary"]["deny"] >= 1 and report["summary"]["resources"] >= 1
    assert {finding["policy"] for finding in report["findings"]} >= {"prestop-wait"}
    explained = subprocess.run(
        [str(executable), "explain", "config-hash"], capture_output=True, text=True, timeout=60, check=False
    )
    assert explained.returncode == 0 and "## Why" in explained.stdout, explained.stderr
