"""`.if` blocks the checker once evaluated differently from HAProxy, hiding a `lua-load` that HAProxy then ran
(security issue 27, point 2): each must be refused on every branch, through the whole validator, with the
environment the checked process really gets (its stand-ins and the check's own variables included)."""

from __future__ import annotations

import pytest

from haproxy_guard.policies.haproxy.bundle import ConfigBundle
from haproxy_guard.policies.haproxy.validator import Validator, discover_binaries

BINARIES = discover_binaries()
VALIDATOR = Validator(BINARIES, timeout_seconds=10.0)
LUA = b'io.stderr:write("[ALERT] (1) : fake\\n")\nos.exit(0)\n'
BODY = "global\n.if {condition}\n  lua-load /usr/local/etc/haproxy/x.lua\n.endif\ndefaults\n  mode http\n"
CONDITIONS = {
    "set-by-the-check": "defined(SSL_CERT_DIR)",
    "open-environment": "defined(ANY)",
    "nul-re-merged": "0\\x00||\\x001",
    "blank-kept": "strneq(a, a)",
    "lone-backslash": "!streq(a,\\\\a)",
}


@pytest.mark.parametrize("version", sorted(BINARIES))
@pytest.mark.parametrize("case", sorted(CONDITIONS))
def test_a_hidden_lua_load_is_refused(case: str, version: str) -> None:
    bundle = ConfigBundle(
        (("haproxy.cfg", BODY.format(condition=CONDITIONS[case])),),
        files={"/usr/local/etc/haproxy/x.lua": LUA},
        env_open=case == "open-environment",
    )
    result = VALIDATOR.validate(bundle, version)
    assert not result.valid
    assert [str(error) for error in result.errors] == [
        "haproxy.cfg:3: lua-load is refused: HAProxy runs a Lua file's top-level code while checking a "
        "configuration, and submitted code never runs in the validator"
    ]
