"""Audit output formats: text (people), json (the contract's schema), sarif (2.1.0), junit (CI test reports).

Every format lists findings in input order, then policy order, so output is deterministic.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO
from xml.etree import ElementTree

from haproxy_guard.cli.audit import Audited
from haproxy_guard.policies.model.findings import Severity
from haproxy_guard.policies.registry import ALL_POLICIES

FORMATS = ("text", "json", "sarif", "junit")
TOOL_URI = "https://github.com/haproxy-guard/haproxy-guard"
_COLOURS = {Severity.DENY: "\033[31m", Severity.WARN: "\033[33m"}
_RESET, _BOLD = "\033[0m", "\033[1m"


def summary(results: Sequence[Audited]) -> dict[str, int]:
    findings = [finding for result in results for finding in result.findings]
    return {
        "resources": len(results),
        "deny": sum(1 for f in findings if f.severity is Severity.DENY),
        "warn": sum(1 for f in findings if f.severity is Severity.WARN),
    }


def to_json(results: Sequence[Audited]) -> str:
    findings = [
        {**finding.as_dict(), "source": result.document.source} for result in results for finding in result.findings
    ]
    ordered = [
        {key: item[key] for key in ("policy", "severity", "kind", "namespace", "name", "source", "message", "path")}
        for item in findings
    ]
    return json.dumps({"findings": ordered, "summary": summary(results)}, indent=2)


def to_text(results: Sequence[Audited], stream: TextIO) -> str:
    colour = stream.isatty() and "NO_COLOR" not in os.environ
    lines: list[str] = []
    for result in results:
        if not result.findings:
            continue
        first = result.findings[0]
        where = f"{first.namespace}/{first.name}" if first.namespace else first.name
        heading = f"{first.kind} {where} ({result.document.source})"
        lines.append(f"{_BOLD}{heading}{_RESET}" if colour else heading)
        for finding in result.findings:
            label = str(finding.severity).upper().ljust(4)
            if colour:
                label = f"{_COLOURS[finding.severity]}{label}{_RESET}"
            lines.append(f"  {label} {finding.policy}: {finding.message}")
    counts = summary(results)
    lines.append(f"{counts['resources']} resources checked: {counts['deny']} deny, {counts['warn']} warn")
    return "\n".join(lines)


def _rules() -> list[dict[str, Any]]:
    return [
        {
            "id": policy.id,
            "name": policy.id,
            "shortDescription": {"text": policy.summary},
            "fullDescription": {"text": policy.reason},
            "defaultConfiguration": {"level": "error" if policy.default_severity is Severity.DENY else "warning"},
            "helpUri": f"{TOOL_URI}#policies",
        }
        for policy in ALL_POLICIES
    ]


def to_sarif(results: Sequence[Audited], version: str) -> str:
    index = {policy.id: position for position, policy in enumerate(ALL_POLICIES)}
    sarif_results = []
    for result in results:
        for finding in result.findings:
            physical: dict[str, Any] = {"artifactLocation": {"uri": result.document.file}}
            line = result.document.line_of(finding.path)
            if line is not None:
                physical["region"] = {"startLine": line}
            logical = f"{finding.kind}/{finding.namespace + '/' if finding.namespace else ''}{finding.name}"
            sarif_results.append(
                {
                    "ruleId": finding.policy,
                    "ruleIndex": index[finding.policy],
                    "level": "error" if finding.severity is Severity.DENY else "warning",
                    "message": {"text": finding.message},
                    "locations": [
                        {
                            "physicalLocation": physical,
                            "logicalLocations": [{"fullyQualifiedName": logical + (finding.path or "")}],
                        }
                    ],
                }
            )
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "haproxy-guard",
                        "version": version,
                        "informationUri": TOOL_URI,
                        "rules": _rules(),
                    }
                },
                "results": sarif_results,
            }
        ],
    }
    return json.dumps(log, indent=2)


def to_junit(results: Sequence[Audited]) -> str:
    """One test case per object and applicable policy: passed, or failed with type deny/warn."""
    suites = ElementTree.Element("testsuites", name="haproxy-guard")
    suite = ElementTree.SubElement(suites, "testsuite", name="haproxy-guard")
    tests = failures = 0
    for result in results:
        subject = result.evaluation.subject
        if subject is None:
            continue
        where = f"{subject.namespace}/{subject.name}" if subject.namespace else subject.name
        classname = f"{subject.kind}.{where}"
        for policy in ALL_POLICIES:
            own = [finding for finding in result.findings if finding.policy == policy.id]
            if not policy.covers(subject.kind) and not own:
                continue
            tests += 1
            case = ElementTree.SubElement(
                suite, "testcase", classname=classname, name=policy.id, file=result.document.source
            )
            for finding in own:
                failures += 1
                failure = ElementTree.SubElement(
                    case, "failure", type=str(finding.severity), message=finding.message[:200]
                )
                failure.text = f"{finding.message}\npath: {finding.path}"
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    return ElementTree.tostring(suites, encoding="unicode", xml_declaration=True)


def render(results: Sequence[Audited], output_format: str, version: str, stream: TextIO = sys.stdout) -> str:
    if output_format == "json":
        return to_json(results)
    if output_format == "sarif":
        return to_sarif(results, version)
    if output_format == "junit":
        return to_junit(results)
    return to_text(results, stream)
