"""The real-world corpus judged by `audit`: findings equal their golden files, every finding is reviewed (true or
false, with the reason, in reviews.yaml), and `mutate` of every render is the engine's mutation in meaning,
idempotent, and leaves no deny-level finding. The precision (true findings / all findings) is printed in the
test run's summary.

UPDATE_GOLDEN=1 rewrites findings/; a new finding then fails until reviews.yaml judges it.
"""

from __future__ import annotations

import fnmatch
import os
from collections import Counter
from typing import Any

import pytest
import yaml

from haproxy_guard.cli.audit import audit, input_context
from haproxy_guard.cli.manifests import parse_text
from haproxy_guard.cli.roundtrip import rewrite_stream
from haproxy_guard.policies import engine
from haproxy_guard.policies.haproxy.validator import Validator
from haproxy_guard.policies.model.findings import Severity
from haproxy_guard.policies.model.settings import Settings
from tests.charts import corpus

UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
REVIEWS: list[dict[str, Any]] = yaml.safe_load((corpus.CORPUS / "reviews.yaml").read_text()) or []
VERDICTS: Counter[bool] = Counter()
"""Reviewed findings by verdict, filled as the corpus runs: the run's summary prints the precision."""


def precision_lines() -> list[str]:
    """The corpus precision, for the run's summary (nothing when the corpus did not run)."""
    total = sum(VERDICTS.values())
    if not total:
        return []
    return [
        f"real-world corpus ({len(corpus.sources())} sources, {len(corpus.cases())} renders): {total} findings "
        f"reviewed, {VERDICTS[True]} true, {VERDICTS[False]} false: precision {VERDICTS[True] / total:.3f}"
    ]


def _findings(text: str, where: str, validator: Validator) -> list[str]:
    results = audit(parse_text(text, where), Settings(), validator)
    return sorted(
        corpus.finding_key(f.kind, f.name, f.policy, str(f.severity)) for result in results for f in result.findings
    )


def review_of(source_id: str, variant: str, key: str) -> dict[str, Any] | None:
    """The review that judges a finding: the first whose patterns match its source, variant and key."""
    for entry in REVIEWS:
        if (
            fnmatch.fnmatchcase(source_id, entry.get("source", "*"))
            and fnmatch.fnmatchcase(variant, entry.get("variant", "*"))
            and fnmatch.fnmatchcase(key, entry["finding"])
        ):
            return entry
    return None


@pytest.mark.parametrize("source", [source.id for source in corpus.sources()])
def test_findings_are_golden_and_reviewed(source: str, validator: Validator) -> None:
    found = {
        variant: _findings(corpus.render(source, variant), f"{source}:{variant}", validator)
        for variant in corpus.variants(next(s for s in corpus.sources() if s.id == source))
    }
    path = corpus.golden_path(source)
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(yaml.safe_dump(found, sort_keys=False, width=200))
    assert found == corpus.load_golden(source), f"{path} differs (UPDATE_GOLDEN=1, then review each new finding)"
    unreviewed = []
    for variant, keys in found.items():
        for key in keys:
            entry = review_of(source, variant, key)
            if entry is None:
                unreviewed.append(f"{variant}: {key}")
            else:
                VERDICTS[bool(entry["verdict"])] += 1
    assert not unreviewed, "findings without a review in reviews.yaml:\n" + "\n".join(unreviewed)


@pytest.mark.parametrize(("source", "variant"), corpus.cases())
def test_mutate_is_the_engines_mutation_idempotent_and_leaves_no_deny(source: str, variant: str) -> None:
    text = corpus.render(source, variant)
    documents = parse_text(text, "render.yaml")
    context = input_context([document.obj for document in documents], None)
    settings = Settings()
    changes: dict[int, list[tuple[str, list[Any]]]] = {}
    expected = []
    for document in documents:
        mutation = engine.mutate(document.obj, settings, namespace=document.namespace, context=context)
        expected.append(mutation.mutated)
        if mutation.changed_by:
            prefix = "" if document.item is None else f"/items/{document.item}"
            changes.setdefault(document.index, []).append((prefix, mutation.patch))
    output = rewrite_stream(text.encode(), changes)
    rewritten = parse_text(output.decode(), "mutated.yaml")
    assert [document.obj for document in rewritten] == expected
    again = input_context(expected, None)
    for document in rewritten:
        assert not engine.mutate(document.obj, settings, namespace=document.namespace, context=again).changed_by
        denied = [
            f
            for f in engine.check(document.obj, settings, namespace=document.namespace, context=again).findings
            if f.severity is Severity.DENY and f.policy != "haproxy-config-valid"
        ]
        assert not denied, denied
    if not changes:
        assert output == text.encode(), "a render without a change comes out byte for byte"
