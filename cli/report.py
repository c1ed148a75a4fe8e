"""Audit output formats: text (people), json (the contract's schema), sarif (2.1.0), junit (CI test reports).

Every format lists findings in input order, then policy order, so output is deterministic.
"""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Sequence
from typing import IO, Any, TextIO
from xml.etree import ElementTree

from haproxy_guard.cli.audit import Audited
from haproxy_guard.policies.documentation import DOCS_URL, page
from haproxy_guard.policies.model.findings import Severity
from haproxy_guard.policies.model.json_text import standard_json
from haproxy_guard.policies.registry import ALL_POLICIES

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


def _json_items(result: Audited) -> list[dict[str, Any]]:
    return [
        {key: item[key] for key in ("policy", "severity", "kind", "namespace", "name", "source", "message", "path")}
        for item in ({**finding.as_dict(), "source": result.document.source} for finding in result.findings)
    ]


def _text_lines(result: Audited, colour: bool) -> list[str]:
    notes = result.evaluation.notes
    if not result.findings and not notes:
        return []
    subject = result.evaluation.subject
    kind, namespace, name = (
        (subject.kind, subject.namespace, subject.name)
        if subject is not None
        else (result.findings[0].kind, result.findings[0].namespace, result.findings[0].name)
    )
    where = f"{namespace}/{name}" if namespace else name
    heading = f"{kind} {where} ({result.document.source})"
    lines = [f"{_BOLD}{heading}{_RESET}" if colour else heading]
    lines += [f"  NOTE {note}" for note in notes]
    for finding in result.findings:
        label = str(finding.severity).upper().ljust(4)
        if colour:
            label = f"{_COLOURS[finding.severity]}{label}{_RESET}"
        lines.append(f"  {label} {finding.policy}: {finding.message}")
    return lines


def _rules() -> list[dict[str, Any]]:
    return [
        {
            "id": policy.id,
            "name": policy.id,
            "shortDescription": {"text": policy.summary},
            "fullDescription": {"text": policy.reason},
            "defaultConfiguration": {"level": "error" if policy.default_severity is Severity.DENY else "warning"},
            "helpUri": page(policy.id),
        }
        for policy in ALL_POLICIES
    ]


_RULE_INDEX = {policy.id: position for position, policy in enumerate(ALL_POLICIES)}


def _sarif_items(result: Audited) -> list[dict[str, Any]]:
    items = []
    for finding in result.findings:
        physical: dict[str, Any] = {"artifactLocation": {"uri": result.document.file}}
        line = result.document.line_of(finding.path)
        if line is not None:
            physical["region"] = {"startLine": line}
        logical = f"{finding.kind}/{finding.namespace + '/' if finding.namespace else ''}{finding.name}"
        items.append(
            {
                "ruleId": finding.policy,
                "ruleIndex": _RULE_INDEX[finding.policy],
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
    return items


def _sarif_log(version: str) -> dict[str, Any]:
    driver = {"name": "haproxy-guard", "version": version, "informationUri": TOOL_URI, "rules": _rules()}
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{"tool": {"driver": driver}, "results": []}],
    }


class _JsonArray:
    """Elements of one JSON array inside a document, written as `json.dumps(document, indent=2)` would
    write them: `head` is the document up to the array's `[`, `tail` the rest after its `]`."""

    def __init__(self, out: IO[str], head: str, depth: int) -> None:
        self.out, self.depth, self.empty = out, depth, True
        out.write(head)

    def add(self, item: dict[str, Any]) -> None:
        inner = " " * (self.depth + 2)
        text = standard_json(item, indent=True).replace("\n", "\n" + inner)
        self.out.write(("\n" if self.empty else ",\n") + inner + text)
        self.empty = False

    def close(self) -> None:
        self.out.write("]" if self.empty else "\n" + " " * self.depth + "]")


class StreamedReport:
    """A report written to `out` as results arrive (text, json, jsonl, sarif): what is held is the counts, not
    the results, so memory does not grow with the number of objects. The bytes equal `render` of the same
    results. `finish` writes the end (for text, the summary line, with no final newline, as `render`; for
    jsonl, the summary's line)."""

    FORMATS = ("text", "json", "jsonl", "sarif")

    def __init__(self, output_format: str, version: str, out: IO[str], terminal: TextIO = sys.stdout) -> None:
        self.format, self.out = output_format, out
        self.counts = {"resources": 0, "deny": 0, "warn": 0}
        self.colour = output_format == "text" and terminal.isatty() and "NO_COLOR" not in os.environ
        self.array: _JsonArray | None = None
        self.tail = ""
        if output_format == "json":
            self.array = _JsonArray(out, '{\n  "findings": [', 2)
        elif output_format == "sarif":
            skeleton = json.dumps(_sarif_log(version), indent=2)
            marker = skeleton.rindex('"results": []') + len('"results": [')
            self.array = _JsonArray(out, skeleton[:marker], 6)
            self.tail = skeleton[marker + 1 :]
        elif output_format not in ("text", "jsonl"):
            raise ValueError(f"{output_format} cannot be streamed")

    @property
    def denied(self) -> bool:
        return self.counts["deny"] > 0

    def add(self, result: Audited) -> None:
        self.counts["resources"] += 1
        for finding in result.findings:
            self.counts[str(finding.severity)] += 1
        if self.format == "jsonl":
            for item in _json_items(result):
                self.out.write(standard_json({**item, "help": page(item["policy"])}) + "\n")
            return
        if self.format == "json":
            items = _json_items(result)
        elif self.format == "sarif":
            items = _sarif_items(result)
        else:
            for line in _text_lines(result, self.colour):
                self.out.write(line + "\n")
            return
        assert self.array is not None
        for item in items:
            self.array.add(item)

    def finish(self) -> None:
        if self.format == "text":
            counts = self.counts
            if counts["deny"] or counts["warn"]:
                self.out.write(f"about a policy: haproxy-guard explain POLICY-ID, or {DOCS_URL}policies/POLICY-ID/\n")
            self.out.write(f"{counts['resources']} resources checked: {counts['deny']} deny, {counts['warn']} warn")
            return
        if self.format == "jsonl":
            self.out.write(standard_json({"summary": self.counts}))
            return
        assert self.array is not None
        self.array.close()
        if self.format == "json":
            self.out.write(',\n  "summary": ' + json.dumps(self.counts, indent=2).replace("\n", "\n  ") + "\n}")
        else:
            self.out.write(self.tail)


def _streamed(results: Sequence[Audited], output_format: str, version: str, terminal: TextIO) -> str:
    buffer = io.StringIO()
    report = StreamedReport(output_format, version, buffer, terminal)
    for result in results:
        report.add(result)
    report.finish()
    return buffer.getvalue()


def to_json(results: Sequence[Audited]) -> str:
    return _streamed(results, "json", "", sys.stdout)


def to_text(results: Sequence[Audited], stream: TextIO) -> str:
    return _streamed(results, "text", "", stream)


def to_sarif(results: Sequence[Audited], version: str) -> str:
    return _streamed(results, "sarif", version, sys.stdout)


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
    if output_format == "jsonl":
        return _streamed(results, "jsonl", version, stream)
    if output_format == "sarif":
        return to_sarif(results, version)
    if output_format == "junit":
        return to_junit(results)
    return to_text(results, stream)
