"""Warnings fitted to what the API server passes on whole (webhook/warnings.py): every finding whole while the
reply's warnings stay within the budget, a summary naming the rest, no control character (the API server would
drop such a warning), duplicates once. The real API server's behaviour is proven in tests/e2e/test_warnings.py."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from haproxy_guard.webhook.warnings import API_SERVER_TOTAL_RUNES, BUDGET_RUNES, fit, printable


def _finding(policy: str, length: int) -> str:
    head = f"[{policy}] "
    return head + "é" * (length - len(head))  # runes, not bytes: é is two bytes in UTF-8


def test_whole_warnings_longer_than_256_runes_are_kept_whole() -> None:
    texts = [_finding("readiness-probe", 600), _finding("prestop-wait", 500), _finding("config-hash", 300)]
    assert fit(texts) == texts


def test_what_does_not_fit_is_named_in_one_summary() -> None:
    texts = [_finding(f"policy-{n}", 400) for n in range(8)]
    fitted = fit(texts)
    assert fitted[:-1] == texts[: len(fitted) - 1], "the first findings stay whole and in order"
    summary = fitted[-1]
    left_out = [text.split("]")[0][1:] for text in texts[len(fitted) - 1 :]]
    assert summary.startswith(f"[haproxy-guard] {len(left_out)} more findings not shown (")
    assert all(policy in summary for policy in left_out)
    assert "haproxy-guard audit" in summary
    assert sum(map(len, fitted)) <= BUDGET_RUNES


def test_our_two_webhooks_leave_room_for_other_plugins() -> None:
    assert 2 * BUDGET_RUNES <= API_SERVER_TOTAL_RUNES - 1024


def test_control_characters_are_escaped_not_sent() -> None:
    assert printable("haproxy.cfg:3: bad\tword\nnext") == "haproxy.cfg:3: bad\\u0009word\\u000anext"
    assert fit(["[a] x\ny"]) == ["[a] x\\u000ay"]
    assert printable("déjà vu → ok") == "déjà vu → ok"


def test_duplicates_count_once_as_the_api_server_counts_them() -> None:
    text = _finding("a", 1000)
    assert fit([text, text, text]) == [text]


def test_a_single_finding_longer_than_the_budget_is_the_only_one_cut() -> None:
    huge = _finding("haproxy-config-valid", 5000)
    assert fit([huge]) == [huge[: BUDGET_RUNES - 1] + "…"]
    fitted = fit([huge, _finding("b", 100)])
    assert fitted[0].endswith("…") and fitted[1].startswith("[haproxy-guard] 1 more finding not shown (b)")
    assert sum(map(len, fitted)) <= BUDGET_RUNES


@pytest.mark.parametrize("budget", [300, 700, BUDGET_RUNES])
@given(lengths=st.lists(st.integers(min_value=5, max_value=2000), max_size=30))
def test_never_more_than_the_budget_and_whole_or_summarised(budget: int, lengths: list[int]) -> None:
    texts = [_finding(f"p{n}", length) for n, length in enumerate(lengths)]
    fitted = fit(texts, budget)
    assert sum(map(len, fitted)) <= max(budget, 0)
    whole = [text for text in fitted if text in texts]
    assert whole == texts[: len(whole)], "kept findings are a whole prefix, in order"
    if len(whole) < len(texts):
        assert any("more finding" in text for text in fitted) or fitted[0].endswith("…")


def test_each_finding_links_its_policys_page_when_all_fit() -> None:
    texts = ["[prestop-wait] container haproxy has no preStop wait", "[config-hash] pod template annotation is stale"]
    fitted = fit(texts)
    assert fitted == [
        f"{texts[0]} (see https://haproxy-guard.github.io/haproxy-guard/policies/prestop-wait/)",
        f"{texts[1]} (see https://haproxy-guard.github.io/haproxy-guard/policies/config-hash/)",
    ]
    assert fit(fitted) == fitted, "fitted again (the validating reply adds one warning), no second link"


def test_no_links_when_they_would_not_fit() -> None:
    """Findings that fit the budget only without their pages keep every finding whole instead."""
    long = ["[prestop-wait] " + "x" * 700, "[config-hash] " + "y" * 700]
    assert sum(len(text) for text in long) <= BUDGET_RUNES
    assert fit(long) == long
