"""Configurations that load code are checked, not refused, where the code may run (security issue 27, point
5): in the checker container (`run_code`), with every layer that holds against arbitrary code in force. The
code really runs (what it registers is known to the rest of the configuration), it runs confined (Lua that
reads a canary, writes, executes or loads a native library gains nothing, as root and as uid 65534, on every
branch), code the submission does not carry (a path in the image) makes warnings, never a denial for loading
code; and everywhere else the refusal stays."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from haproxy_guard.policies.haproxy.bundle import ConfigBundle
from haproxy_guard.policies.haproxy.directives import code_loads
from haproxy_guard.policies.haproxy.sandbox import SandboxMode
from haproxy_guard.policies.haproxy.validator import Validator, discover_binaries
from tests.haproxy.hostile import USERS, compile_payloads, public_folder, run_job, secret_file

BINARIES = discover_binaries()
VERSIONS = sorted(BINARIES)
CHECKER = Validator(BINARIES, timeout_seconds=10.0, run_code=True)
CORPUS = Path(__file__).parent / "corpus" / "real-world"
SECRET = "CANARY-lua-7f3e9a"
WROTE, RAN = Path("/tmp/haproxy-guard-lua-wrote"), Path("/tmp/haproxy-guard-lua-exec")
LUA_DIR = "/usr/local/etc/haproxy"
HEADER = "defaults\n  mode http\n  timeout client 1s\n  timeout server 1s\n  timeout connect 1s\n"
USES_ACTION = HEADER + "frontend f\n  bind :8080\n  http-request lua.registered\n"
REGISTER = 'core.register_action("registered", {"http-req"}, function(txn) end)\n'


def _config(*lua_files: str, extra: str = "") -> str:
    return "global\n" + extra + "".join(f"  lua-load {LUA_DIR}/{name}\n" for name in lua_files) + USES_ACTION


def _bundle(text: str, files: dict[str, bytes]) -> ConfigBundle:
    return ConfigBundle((("haproxy.cfg", text),), files={f"{LUA_DIR}/{name}": data for name, data in files.items()})


@pytest.mark.parametrize("version", VERSIONS)
def test_submitted_lua_runs_and_the_rest_of_the_configuration_is_checked_against_it(version: str) -> None:
    registered = CHECKER.validate(_bundle(_config("a.lua"), {"a.lua": REGISTER.encode()}), version)
    assert registered.valid, [str(error) for error in registered.errors]
    unknown = CHECKER.validate(
        _bundle(_config("a.lua") + "  http-request lua.nope\n", {"a.lua": REGISTER.encode()}), version
    )
    assert not unknown.valid and [error.line for error in unknown.errors] == [11]
    broken = CHECKER.validate(_bundle(_config("a.lua"), {"a.lua": b"this is not lua\n"}), version)
    assert not broken.valid and not any(" is refused: " in str(error) for error in broken.errors)
    assert any(error.line == 2 for error in broken.errors), [str(error) for error in broken.errors]


@pytest.mark.parametrize("version", VERSIONS)
def test_lua_from_the_image_is_a_warning_not_a_denial(version: str) -> None:
    result = CHECKER.validate(_bundle(_config("image.lua"), {}), version)
    assert result.valid, [str(error) for error in result.errors]
    texts = [warning.text for warning in result.warnings if warning.text.startswith("not checked: ")]
    assert texts and all("code the submission does not carry: /usr/local/etc/haproxy/image.lua" in t for t in texts)
    assert {warning.line for warning in result.warnings if warning.text.startswith("not checked: ")} <= {2, 10}


def test_real_world_lua_configurations_are_no_longer_refused_for_loading_code() -> None:
    """The corpus configurations that load Lua from the image: no refusal, and no error on a line that needs
    that Lua; whatever else they get wrong is still said."""
    loaders = [path for path in sorted(CORPUS.glob("*.cfg"))
               if list(code_loads((("haproxy.cfg", path.read_text(errors="replace")),), {}, VERSIONS[-1]))]  # fmt: skip
    assert len(loaders) >= 6
    accepted = 0
    for path in loaders:
        text = path.read_text(errors="replace")
        lines = text.split("\n")
        for version in VERSIONS:
            result = CHECKER.validate(ConfigBundle((("haproxy.cfg", text),)), version)
            assert not any(" is refused: " in str(error) for error in result.errors), path.name
            for error in result.errors:
                line = lines[error.line - 1] if error.line else ""
                assert "lua" not in line, (path.name, version, str(error))
            accepted += result.valid
    assert accepted >= 4 * len(VERSIONS), "most of them are otherwise valid"


def _attack(canary: Path) -> str:
    """Lua that tries to read the canary, write and execute outside, and load a native library shipped beside
    it (at its sandbox name, as an attacker would find it), each in `pcall`, then registers its action."""
    return f"""
pcall(function() local f = io.open("{canary}") if f then error("LEAK " .. f:read("*a")) end end)
pcall(function() local w = io.open("{WROTE}", "w") w:write("x") w:close() end)
pcall(function() os.execute("touch {RAN}") end)
pcall(function() io.popen("touch {RAN}") end)
for index = 0, 4 do pcall(package.loadlib, "files/" .. index .. "-contained.so", "OSSL_provider_init") end
{REGISTER}
"""


@pytest.fixture(scope="module")
def provider() -> Iterator[bytes]:
    folder = public_folder()
    try:
        yield compile_payloads(folder)[0].read_bytes()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("version", VERSIONS)
def test_lua_runs_confined(provider: bytes, user: str, version: str) -> None:
    for sentinel in (WROTE, RAN, Path("/tmp/haproxy-guard-payload-wrote"), Path("/tmp/haproxy-guard-payload-exec")):
        sentinel.unlink(missing_ok=True)
    with secret_file(SECRET) as canary:
        files = {"attack.lua": _attack(canary).encode(), "contained.so": provider}
        job = {
            "kind": "validate",
            # the trick: a harmless line naming the library makes the renderer copy it into the sandbox
            "configs": [["haproxy.cfg", _config("attack.lua", extra=f"  setenv SO {LUA_DIR}/contained.so\n")]],
            "files": {f"{LUA_DIR}/{name}": base64.b64encode(data).decode() for name, data in files.items()},
            "version": version,
            "binaries": {version: BINARIES[version]},
            "timeout": 10.0,
            "run_code": True,
        }
        result = run_job(user, job)
    assert SECRET not in str(result)
    assert not WROTE.exists() and not RAN.exists()
    assert (
        not Path("/tmp/haproxy-guard-payload-wrote").exists() and not Path("/tmp/haproxy-guard-payload-exec").exists()
    )
    assert result["valid"], result["errors"]  # the attack ran to its end: its action is registered


@pytest.mark.parametrize(
    "validator",
    [
        pytest.param(Validator(BINARIES), id="in-process"),
        pytest.param(Validator(BINARIES, run_code=True, sandbox_mode=SandboxMode.BEST_EFFORT), id="best-effort"),
        pytest.param(Validator(BINARIES, run_code=True, disabled_layers=("seccomp",)), id="a-layer-missing"),
    ],
)
def test_elsewhere_the_refusal_stays(validator: Validator) -> None:
    result = validator.validate(_bundle(_config("a.lua"), {"a.lua": REGISTER.encode()}), VERSIONS[-1])
    assert not result.valid and " is refused: " in str(result.errors[0])
