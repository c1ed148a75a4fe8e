"""Kubernetes label selectors (matchLabels, matchExpressions) evaluated against a label set."""

from __future__ import annotations

from typing import Any


def selects(selector: Any, labels: dict[str, str]) -> bool:
    """Whether `selector` (a LabelSelector) selects `labels`. An empty selector selects everything; a
    missing one (None) selects nothing, as for PodDisruptionBudgets in policy/v1."""
    if not isinstance(selector, dict):
        return False
    match_labels = selector.get("matchLabels") or {}
    if not isinstance(match_labels, dict) or any(labels.get(key) != value for key, value in match_labels.items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        if not isinstance(expression, dict):
            return False
        key, operator, values = str(expression.get("key")), expression.get("operator"), expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
        if operator not in {"In", "NotIn", "Exists", "DoesNotExist"}:
            return False
    return True
