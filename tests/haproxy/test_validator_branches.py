"""Every branch for every install: a configuration is never judged by a branch older than the pods' own, and
`haproxy-guard validators install` brings the pinned, verified validators to any install (pip included)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from haproxy_guard.cli.check_config import CheckConfigError, check_files
from haproxy_guard.policies import engine
from haproxy_guard.policies.context import Context
from haproxy_guard.policies.haproxy import validator as validator_module
from haproxy_guard.policies.haproxy import validators_install as installer
from haproxy_guard.policies.haproxy.bundle import ConfigBundle
from haproxy_guard.policies.haproxy.validator import Validator, discover_binaries, nearest_maintained
from haproxy_guard.policies.model.findings import Severity
from haproxy_guard.policies.model.settings import Settings
from tests.cli.test_audit_command import run

GUID_CONFIG = "global\n  maxconn 100\ndefaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 5s\nfrontend fe\n  guid fe-1\n  bind :8080\n  default_backend be\nbackend be\n  server s1 127.0.0.1:9000\n"
"""Valid from HAProxy 3.0 (`guid`), unknown to 2.6 and 2.8."""


@pytest.fixture
def pip_install_validator() -> Validator:
    """What a pip install finds on a Debian bookworm runner: the distribution's 2.6 and the wheel's 2.8."""
    found = discover_binaries()
    return Validator({branch: found[branch] for branch in ("2.6", "2.8")})


def test_a_newer_branch_is_not_checked_rather_than_judged_by_an_older_one(pip_install_validator: Validator) -> None:
    bundle = ConfigBundle((("haproxy.cfg", GUID_CONFIG),))
    result = pip_install_validator.validate(bundle, "3.2")
    assert result.valid and result.unavailable and not result.errors
    assert "no validator for HAProxy 3.2 or newer" in result.warnings[0].text
    assert "haproxy-guard validators install --branch 3.2" in result.warnings[0].text
    assert not pip_install_validator.validate(bundle, "2.8").valid, "2.8 itself still judges 2.8 pods"


def test_a_workload_on_a_missing_branch_gets_a_warning_never_a_deny(pip_install_validator: Validator) -> None:
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cfg"},
        "data": {"haproxy.cfg": GUID_CONFIG},
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "lb"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {
                    "containers": [
                        {
                            "name": "haproxy",
                            "image": "haproxy:3.2",
                            "volumeMounts": [{"name": "cfg", "mountPath": "/usr/local/etc/haproxy"}],
                        }
                    ],
                    "volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}],
                },
            },
        },
    }
    context = Context(pip_install_validator, lambda namespace, name: configmap if name == "cfg" else None)
    findings = [
        f for f in engine.check(deployment, Settings(), context=context).findings if f.policy == "haproxy-config-valid"
    ]
    assert findings and all(f.severity is Severity.WARN for f in findings)
    assert "validators install --branch 3.2" in findings[0].message


def test_check_config_exits_2_naming_the_missing_branch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pip_install_validator: Validator
) -> None:
    config = tmp_path / "haproxy.cfg"
    config.write_text(GUID_CONFIG)
    monkeypatch.setattr(validator_module, "discover_binaries", lambda: dict(pip_install_validator.binaries))
    with pytest.raises(CheckConfigError, match=r"no validator for HAProxy 3\.2 or newer.*install --branch 3\.2"):
        check_files([config], version="3.2")
    assert check_files([config], version="2.8") == 1


def test_with_every_validator_the_same_configuration_is_valid_for_its_branch(tmp_path: Path) -> None:
    config = tmp_path / "haproxy.cfg"
    config.write_text(GUID_CONFIG)
    result = run("check-config", "--haproxy-version", "3.2", str(config))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("version", "branch"), [("3.2", "3.2"), ("3.3", "3.4"), ("2.7", "2.8"), ("2.4", "2.6")])
def test_the_branch_to_install_for_a_version(version: str, branch: str) -> None:
    assert nearest_maintained(version) == branch


def test_install_downloads_verifies_and_unpacks_a_pinned_branch(tmp_path: Path) -> None:
    binary = installer.install("3.4", tmp_path)
    assert binary == tmp_path / "3.4" / "root" / "usr" / "sbin" / "haproxy"
    assert installer.runs_as(binary, "3.4")
    marker = (tmp_path / "3.4" / "installed-from").read_text().strip()
    lines = [line for line in installer.LOCK.read_text().splitlines() if line.startswith("3.4 ")]
    assert marker == hashlib.sha256("".join(f"{line}\n" for line in lines).encode()).hexdigest(), "the script's marker"
    assert Validator({"3.4": str(binary)}).validate(ConfigBundle((("haproxy.cfg", GUID_CONFIG),)), "3.4").valid
    before = binary.stat().st_mtime_ns
    assert installer.install("3.4", tmp_path) == binary and binary.stat().st_mtime_ns == before, "no work twice"


def test_install_refuses_a_package_whose_digest_is_not_the_pinned_one(tmp_path: Path) -> None:
    lock = tmp_path / "validators.lock"
    lines = [line for line in installer.LOCK.read_text().splitlines() if line.startswith("3.4 haproxy ")]
    branch, package, version, _, pool = lines[0].split()
    lock.write_text(f"{branch} {package} {version} {'0' * 64} {pool}\n")
    with pytest.raises(installer.InstallError, match="is not the pinned"):
        installer.install("3.4", tmp_path / "dest", lock=lock)
    assert not (tmp_path / "dest" / "3.4").exists(), "nothing half-installed is left where validators are found"


def test_validators_list_names_every_maintained_branch() -> None:
    result = run("validators", "list")
    assert result.returncode == 0
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == [
        f"HAProxy {branch}" for branch in ("2.6", "2.8", "3.0", "3.2", "3.4")
    ]


def test_the_lock_pins_every_package_with_a_digest_and_a_pool_path() -> None:
    pinned = installer.pins()
    assert set(pinned) == {"2.6", "3.0", "3.2", "3.4"}
    for branch_pins in pinned.values():
        assert any(pin.package == "haproxy" for pin in branch_pins)
        assert all(len(pin.sha256) == 64 and pin.pool.startswith("pool/main/") for pin in branch_pins)


def test_the_bookworm_layout_runs_in_the_jail(tmp_path: Path) -> None:
    """2.6 comes from bookworm, whose loader and libraries sit under lib/ as well as usr/lib/: found, run and
    jailed like the merged-/usr branches (every layer, the private root included)."""
    binary = installer.install("2.6", tmp_path)
    validator = Validator({"2.6": str(binary)})
    result = validator.validate(ConfigBundle((("haproxy.cfg", GUID_CONFIG),)), "2.6")
    assert not result.valid and "guid" in result.errors[0].text, result
    assert (result.layers is not None and result.layers.mount_namespace) or result.layers == validator.layers()


def test_versions_are_asked_of_every_binary_at_once_with_each_answer_its_own(tmp_path: Path) -> None:
    """`versions_of` starts every `haproxy -v` before reading any (discovery no longer waits for one after
    another); each binary gets its own answer, and one that cannot run or says no version gets None."""
    silent = tmp_path / "silent"
    silent.write_text("#!/bin/sh\necho not haproxy\n")
    silent.chmod(0o755)
    binaries = discover_binaries()
    asked = [*binaries.values(), str(silent), str(tmp_path / "absent")]
    answers = validator_module.versions_of(asked)
    assert answers == {**{binary: version for version, binary in binaries.items()}, asked[-2]: None, asked[-1]: None}
    assert validator_module.binary_versions(asked) == answers
    assert validator_module.binary_version(asked[0]) == next(iter(binaries))


def test_the_version_probes_run_side_by_side(tmp_path: Path) -> None:
    """Each stand-in says its version only once the other has started too (else, after 10 s, a wrong one):
    asked one after another, the first would answer 9.9; asked at once, both answer 2.6."""
    names = ("first", "second")
    for name in names:
        other = tmp_path / f"{names[1 - names.index(name)]}.started"
        script = tmp_path / name
        script.write_text(
            "#!/bin/sh\n"
            f"touch {tmp_path / name}.started\n"
            f"for i in $(seq 100); do [ -e {other} ] && echo 'HAProxy version 2.6.12' && exit 0; sleep 0.1; done\n"
            "echo 'HAProxy version 9.9.0'\n"
        )
        script.chmod(0o755)
    asked = [str(tmp_path / name) for name in names]
    assert validator_module.versions_of(asked) == dict.fromkeys(asked, "2.6")
