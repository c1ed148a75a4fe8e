"""Advice users paste verbatim must be accepted by HAProxy: the configuration snippets policies give in their
messages are checked with the real `haproxy -c` of every branch here, in a configuration with the backend the
placeholder names. A snippet the binaries refuse would turn the advice into a denied ConfigMap."""

from __future__ import annotations

import pytest

from haproxy_guard.policies.haproxy.bundle import ConfigBundle
from haproxy_guard.policies.haproxy.validator import Validator, discover_binaries
from haproxy_guard.policies.model.configmap import inspect_configmap
from haproxy_guard.policies.rules import haproxy_health_endpoint

BINARIES = discover_binaries()

BASE = """global
  maxconn 1000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend web
  bind :8080
  default_backend app
backend app
  server a 127.0.0.1:9000
"""


def _snippet_lines(snippet: str) -> str:
    """The advice's ` / `-separated lines as configuration lines, the backend placeholder filled in."""
    lines = [line.strip() for line in snippet.replace("<backend>", "app").split(" / ")]
    return "".join(f"{'' if line.startswith('frontend ') else '  '}{line}\n" for line in lines)


@pytest.mark.parametrize("version", sorted(BINARIES))
def test_the_health_endpoint_advice_is_valid_on_every_branch(version: str) -> None:
    config = BASE + _snippet_lines(haproxy_health_endpoint.SNIPPET)
    result = Validator({version: BINARIES[version]}).validate(ConfigBundle((("haproxy.cfg", config),)), version)
    assert result.valid, f"HAProxy {version} refuses the advice: {result.errors}\n{config}"


def test_the_advice_satisfies_the_policy_that_gives_it() -> None:
    """Pasted as given, the configuration has a deep readiness endpoint: the finding is gone."""
    config = BASE + _snippet_lines(haproxy_health_endpoint.SNIPPET)
    configmap = inspect_configmap(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"haproxy.cfg": config}}, "ns"
    )
    assert configmap is not None
    assert configmap.facts.health_endpoint is not None
