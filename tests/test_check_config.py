"""`haproxy-guard check-config`: plain files, several in order, FILE:LINE: message, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from haproxy_guard.policies.haproxy.validator import Validator

GOOD = """global
  maxconn 100
defaults
  mode http
  timeout client 5s
  timeout server 5s
  timeout connect 1s
frontend fe
  bind :8080
  use_backend %[req.hdr(host),lower,map(maps/hosts.map,app)]
  acl blocked src -f lists/blocked.lst
  http-request deny if blocked
backend app
  server a 10.0.0.1:80
"""


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "haproxy_guard.cli.main", "check-config", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={"PATH": "/usr/bin:/bin:/usr/sbin", "PYTHONPATH": str(Path(__file__).parent.parent)},
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "maps").mkdir()
    (tmp_path / "maps" / "hosts.map").write_text("shop.example.com app\n")
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "blocked.lst").write_text("192.0.2.0/24\n")
    (tmp_path / "haproxy.cfg").write_text(GOOD)
    return tmp_path


def test_a_valid_file_with_a_map_beside_it(repo: Path) -> None:
    result = _run(repo, "haproxy.cfg")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "haproxy.cfg: valid" in result.stderr


def test_the_files_beside_it_are_really_read(repo: Path) -> None:
    (repo / "lists" / "blocked.lst").write_text("not-an-address\n")
    result = _run(repo, "haproxy.cfg")
    assert result.returncode == 1
    assert result.stdout.startswith("haproxy.cfg:11: ")
    assert "'not-an-address' is not a valid IPv4 or IPv6 address" in result.stdout


def test_several_files_keep_their_own_line_numbers(repo: Path) -> None:
    (repo / "extra.cfg").write_text("backend other\n  server b 10.0.0.2:80\n  balance fastest\n")
    result = _run(repo, "haproxy.cfg", "extra.cfg")
    assert result.returncode == 1
    assert result.stdout.splitlines()[0].startswith("extra.cfg:3: ")


@pytest.mark.parametrize("version", ["2.6", "2.8"])
def test_a_chosen_binary(repo: Path, validator: Validator, version: str) -> None:
    (repo / "new.cfg").write_text(
        GOOD.replace(
            "  bind :8080\n", "  bind :8080\n  filter bwlim-out limit-by-src default-limit 1m default-period 1s\n"
        )
    )
    result = _run(repo, "new.cfg", "--haproxy", validator.binaries[version])
    assert result.returncode == (1 if version == "2.6" else 0), result.stdout
    assert f"(HAProxy {version})" in result.stderr


def test_unreadable_file_and_bad_binary_exit_2(repo: Path) -> None:
    missing = _run(repo, "absent.cfg")
    assert missing.returncode == 2 and "absent.cfg: No such file or directory" in missing.stderr
    bad = _run(repo, "haproxy.cfg", "--haproxy", "/bin/true")
    assert bad.returncode == 2 and "not a working HAProxy binary" in bad.stderr


GUID = """defaults
  mode http
  timeout client 5s
  timeout server 5s
  timeout connect 1s
frontend fe
  guid fe-main-1
  bind :8080
  default_backend app
backend app
  server a 10.0.0.1:80
"""


def test_all_versions_prints_one_verdict_per_branch(tmp_path: Path) -> None:
    """A 3.x keyword: a user on 2.8 sees before upgrading that 3.0+ accept it and 2.x do not."""
    (tmp_path / "haproxy.cfg").write_text(GUID)
    result = _run(tmp_path, "--all-versions", "haproxy.cfg")
    assert result.returncode == 1
    verdicts = [line for line in result.stdout.splitlines() if line.startswith("haproxy.cfg: ")]
    assert "haproxy.cfg: invalid (HAProxy 2.8)" in verdicts and "haproxy.cfg: valid (HAProxy 3.2)" in verdicts
    assert len(verdicts) == 5, verdicts  # 2.6, 2.8, 3.0, 3.2, 3.4
    assert "HAProxy 2.8: haproxy.cfg:7: unknown keyword 'guid'" in result.stdout


@pytest.mark.parametrize(("version", "code", "checked"), [("3.2", 0, "3.2"), ("3.1", 0, "3.2"), ("2.8", 1, "2.8")])
def test_one_branch_by_version(tmp_path: Path, version: str, code: int, checked: str) -> None:
    (tmp_path / "haproxy.cfg").write_text(GUID)
    result = _run(tmp_path, "--haproxy-version", version, "haproxy.cfg")
    assert result.returncode == code, result.stdout + result.stderr
    assert f"(HAProxy {checked})" in result.stderr


def test_a_bad_version_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "haproxy.cfg").write_text(GUID)
    result = _run(tmp_path, "--haproxy-version", "three", "haproxy.cfg")
    assert result.returncode == 2 and "expected a branch like 3.2" in result.stderr


PORTED = """defaults
  mode http
  timeout client 5s
  timeout server 5s
  timeout connect 1s
frontend fe
  bind ":${PORT}"
  default_backend app
backend app
  server a 10.0.0.1:80
"""


def test_the_environment_of_a_file_alone_is_open(tmp_path: Path) -> None:
    """The pods' environment is unknown to a file: PORT may well be defined there. Given, it is checked;
    closed, an unset PORT fails as it would in a pod."""
    (tmp_path / "haproxy.cfg").write_text(PORTED)
    assert _run(tmp_path, "--haproxy-version", "3.2", "haproxy.cfg").returncode == 0
    assert (
        _run(tmp_path, "--haproxy-version", "3.2", "--env", "PORT=8080", "--closed-env", "haproxy.cfg").returncode == 0
    )
    bad = _run(tmp_path, "--haproxy-version", "3.2", "--env", "PORT=notaport", "haproxy.cfg")
    assert bad.returncode == 1 and "haproxy.cfg:7:" in bad.stdout, bad.stdout + bad.stderr
    closed = _run(tmp_path, "--haproxy-version", "3.2", "--closed-env", "haproxy.cfg")
    assert closed.returncode == 1 and "haproxy.cfg:7:" in closed.stdout
    usage = _run(tmp_path, "--env", "PORT", "haproxy.cfg")
    assert usage.returncode == 2 and "--env PORT: expected NAME=VALUE" in usage.stderr
