"""A ConfigMap checked alone with no declared version tries its pods' branch first (`Validator.validate(...,
prefer=)`): the verdict never changes (valid when some branch accepts), only whose messages are shown, so a
configuration the pods' own branch refuses is named in a warning instead of passing silently. Real binaries."""

from __future__ import annotations

from dataclasses import replace

from haproxy_guard.policies.haproxy.bundle import ConfigBundle
from haproxy_guard.policies.haproxy.validator import Validator

BASE = """global
  maxconn 100
defaults
  mode http
  timeout client 5s
  timeout server 5s
  timeout connect 1s
frontend fe
  bind :8080
  default_backend be
backend be
  server s1 127.0.0.1:9000
"""
NEWER_ONLY = BASE + "  filter bwlim-out lim default-limit 1m default-period 1s\n"
"""`bwlim-out` came with 2.7: 2.6 refuses it, 2.8 accepts it."""
NO_BRANCH = BASE + "  bogus-directive on\n"


def _bundle(text: str) -> ConfigBundle:
    return ConfigBundle((("haproxy.cfg", text),), env_open=True)


def test_the_preferred_branch_refusing_is_a_warning_and_the_verdict_holds(validator: Validator) -> None:
    plain = validator.validate(_bundle(NEWER_ONLY))
    assert plain.valid and plain.version == "2.8"
    assert not any("not valid for HAProxy" in str(w) for w in plain.warnings), "2.8, the default, accepts it"
    preferred = validator.validate(_bundle(NEWER_ONLY), prefer="2.6")
    assert preferred.valid, "the order never changes the verdict"
    assert preferred.version == "2.8"
    assert any("not valid for HAProxy 2.6" in str(w) and "bwlim-out" in str(w) for w in preferred.warnings)


def test_the_preferred_branch_accepting_answers_alone(validator: Validator) -> None:
    result = validator.validate(_bundle(BASE), prefer="2.6")
    assert result.valid and result.version == "2.6"
    assert validator.answered(_bundle(BASE), prefer="2.6")
    fresh = replace(_bundle(BASE), configs=(("haproxy.cfg", BASE + "# new\n"),))
    assert not validator.answered(fresh, prefer="2.6")


def test_no_branch_accepting_is_still_an_error_from_the_preferred_one(validator: Validator) -> None:
    result = validator.validate(_bundle(NO_BRANCH), prefer="2.6")
    assert not result.valid and result.version == "2.6"
    assert "bogus-directive" in str(result.errors[0])


def test_a_declared_version_and_unusable_preferences_are_ignored(validator: Validator) -> None:
    declared = validator.validate(_bundle(NEWER_ONLY), "2.6", prefer="2.8")
    assert not declared.valid and declared.version == "2.6", "the ConfigMap's own annotation decides alone"
    for prefer in ("latest", "", "9.9"):
        result = validator.validate(_bundle(NEWER_ONLY), prefer=prefer)
        assert result.valid and not any("not valid for HAProxy" in str(w) for w in result.warnings), prefer
