"""The facts cache: one parse per distinct configuration text, bounded, and never a stale answer."""

from __future__ import annotations

import pytest

from haproxy_guard.policies.haproxy import facts
from haproxy_guard.policies.haproxy.config import HAProxyConfig
from haproxy_guard.policies.haproxy.config import parse as config_parse
from haproxy_guard.policies.haproxy.facts import FACTS_CACHE_SIZE, facts_from_text

CONFIG = "global\n  maxconn {maxconn}\ndefaults\n  mode http\nfrontend fe\n  bind :8080\n"


def test_a_text_is_parsed_once_and_different_texts_get_their_own_facts(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    real_parse = config_parse

    def counting_parse(text: str) -> HAProxyConfig:
        parsed.append(text)
        return real_parse(text)

    monkeypatch.setattr(facts, "parse", counting_parse)
    monkeypatch.setattr(facts, "_FACTS", facts._FactsCache(FACTS_CACHE_SIZE))
    first = facts_from_text(CONFIG.format(maxconn=1000))
    again = facts_from_text(CONFIG.format(maxconn=1000))
    other = facts_from_text(CONFIG.format(maxconn=2000))
    assert again is first and first.maxconn == 1000 and other.maxconn == 2000
    assert len(parsed) == 2


def test_the_cache_keeps_only_the_most_recent_configurations(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = facts._FactsCache(3)
    monkeypatch.setattr(facts, "_FACTS", cache)
    for maxconn in range(10):
        assert facts_from_text(CONFIG.format(maxconn=maxconn)).maxconn == maxconn
    assert len(cache.entries) == 3
    assert all(isinstance(key, bytes) and len(key) == 32 for key in cache.entries)  # digests, not the texts
