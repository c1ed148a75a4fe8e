"""The configuration corpus against the real HAProxy 2.6 and 2.8: valid ones pass, broken ones fail on
the right line with HAProxy's own reason, version-specific keywords differ between the two."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from haproxy_guard.certs.authority import issue
from haproxy_guard.policies.haproxy.bundle import ConfigBundle
from haproxy_guard.policies.haproxy.validator import Validator

CORPUS: list[dict[str, Any]] = yaml.safe_load((Path(__file__).parent / "corpus.yaml").read_text())
VERSIONS = ("2.6", "2.8")


def _certificate() -> str:
    _ca, cert, key = issue(["site.example"], 30)
    return (cert + key).decode()


def _expected(case: dict[str, Any], version: str) -> Any:
    expect = case["expect"]
    if isinstance(expect, dict) and "versions" in expect:
        return expect["versions"][version]
    return expect


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("case", CORPUS, ids=[case["id"] for case in CORPUS])
def test_corpus(validator: Validator, case: dict[str, Any], version: str) -> None:
    certificate = _certificate() if "{{CERT}}" in str(case.get("files", {})) else ""
    files = {path: content.replace("{{CERT}}", certificate).encode() for path, content in case.get("files", {}).items()}
    mounted = (case["mounted_at"],) if "mounted_at" in case else ()
    bundle = ConfigBundle((("haproxy.cfg", case["config"]),), files, case.get("env", {}), complete_dirs=mounted)
    result = validator.validate(bundle, version)
    assert result.version == version
    expected = _expected(case, version)
    report = "\n".join(str(message) for message in result.errors)
    if expected == "valid":
        assert result.valid, report
        return
    assert not result.valid, f"expected an error on line {expected['line']}"
    first = result.errors[0]
    assert (first.config, first.line) == ("haproxy.cfg", expected["line"]), report
    assert expected["contains"] in first.text, report


def test_corpus_size_and_balance() -> None:
    valid = [case for case in CORPUS if case["expect"] == "valid"]
    broken = [case for case in CORPUS if isinstance(case["expect"], dict) and "contains" in case["expect"]]
    differing = [case for case in CORPUS if isinstance(case["expect"], dict) and "versions" in case["expect"]]
    assert len(CORPUS) >= 40
    assert len(valid) >= 15 and len(broken) >= 15 and len(differing) >= 3
