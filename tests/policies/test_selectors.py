"""Label selectors as the API server evaluates them for PodDisruptionBudgets."""

from __future__ import annotations

from typing import Any

import pytest

from haproxy_guard.policies.model.selectors import selects

LABELS = {"app": "edge", "tier": "ingress"}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        pytest.param({}, True, id="empty-selects-all"),
        pytest.param(None, False, id="null-selects-none"),
        pytest.param({"matchLabels": {"app": "edge"}}, True, id="labels-subset"),
        pytest.param({"matchLabels": {"app": "web"}}, False, id="labels-differ"),
        pytest.param(
            {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["ingress", "x"]}]}, True, id="in"
        ),
        pytest.param(
            {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["ingress"]}]}, False, id="not-in"
        ),
        pytest.param(
            {"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}, True, id="not-in-absent"
        ),
        pytest.param({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, True, id="exists"),
        pytest.param({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, False, id="does-not-exist"),
        pytest.param({"matchExpressions": [{"key": "app", "operator": "Like"}]}, False, id="unknown-operator"),
    ],
)
def test_selects(selector: Any, expected: bool) -> None:
    assert selects(selector, LABELS) is expected
