"""The configuration advice applied to the mutated copy: only where the policies would advise it, in the
sections they name, and the result still a configuration the real HAProxy accepts."""

from __future__ import annotations

import pytest

from haproxy_guard.drill.advice import advise
from haproxy_guard.policies.haproxy.bundle import ConfigBundle
from haproxy_guard.policies.haproxy.facts import facts_from_text
from haproxy_guard.policies.haproxy.validator import Validator, discover_binaries
from haproxy_guard.policies.model.settings import Settings

BINARIES = discover_binaries()
LACKING = """\
global
    maxconn 100
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 1s
frontend web
    bind :8080
    default_backend app
frontend raw
    mode tcp
    bind :9000
    default_backend app
backend app
    server a 127.0.0.1:9
"""


def _advised(text: str) -> tuple[str, list[str]]:
    bundle = ConfigBundle((("haproxy.cfg", text),))
    advised, applied = advise(bundle, facts_from_text(text), Settings(drain_seconds=20))
    return advised.configs[0][1], [str(advice) for advice in applied]


def test_what_is_missing_is_added_where_the_policies_say() -> None:
    text, applied = _advised(LACKING)
    assert applied == [
        "haproxy.cfg: option idle-close-on-response in frontend web (haproxy-idle-close)",
        "haproxy.cfg: hard-stop-after 20s in global (haproxy-hard-stop-after)",
    ]
    facts = facts_from_text(text)
    assert facts.http_without_idle_close == () and facts.hard_stop_after_seconds == 20
    raw = text.split("frontend raw", 1)[1].split("backend", 1)[0]
    assert "idle-close" not in raw, "a TCP frontend is left alone"


def test_nothing_is_added_when_nothing_is_missing() -> None:
    complete = LACKING.replace("maxconn 100", "maxconn 100\n    hard-stop-after 5s").replace(
        "timeout connect 1s", "timeout connect 1s\n    option idle-close-on-response"
    )
    assert _advised(complete) == (complete, [])


def test_a_configuration_without_global_gets_one() -> None:
    text, applied = _advised(LACKING.replace("global\n    maxconn 100\n", ""))
    assert text.startswith("global\n    hard-stop-after 20s\n") and len(applied) == 2


@pytest.mark.parametrize("version", sorted(BINARIES))
def test_the_advised_copy_is_valid_on_every_branch(version: str) -> None:
    text, _ = _advised(LACKING)
    result = Validator(BINARIES).validate(ConfigBundle((("haproxy.cfg", text),)), version)
    assert result.valid, result.errors
