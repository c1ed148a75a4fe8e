"""The `audit` and `mutate` commands: load documents, run the shared engine, print, choose the exit code."""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterator, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import yaml

from haproxy_guard.cli.audit import audit, denied, input_context
from haproxy_guard.cli.manifests import Document, load
from haproxy_guard.cli.read_ahead import audit_documents
from haproxy_guard.cli.report import render
from haproxy_guard.policies import engine
from haproxy_guard.policies.haproxy.validator import Validator
from haproxy_guard.policies.model.findings import Severity
from haproxy_guard.policies.model.settings import Settings

EXIT_OK, EXIT_FINDINGS = 0, 1


def tool_version() -> str:
    try:
        return version("haproxy-guard")
    except PackageNotFoundError:
        return "0.0.0"


def dump(obj: dict[str, Any]) -> str:
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1000)


def run_audit(
    paths: Sequence[str],
    settings: Settings,
    validator: Validator | None,
    output_format: str,
    documents: Iterator[Document] | None = None,
) -> int:
    """`documents`: the input already being read (by `read_ahead`), else it is read here."""
    results = audit(audit_documents(paths, output_format) if documents is None else documents, settings, validator)
    print(render(results, output_format, tool_version(), sys.stdout))
    return EXIT_FINDINGS if denied(results) else EXIT_OK


def mutate_documents(
    documents: Sequence[Document], settings: Settings, validator: Validator | None
) -> list[dict[str, Any]]:
    """Each document's object as the mutating webhook would store it (CREATE), in input order."""
    context = input_context([document.obj for document in documents], validator)
    return [
        engine.mutate(document.obj, settings, namespace=document.namespace, operation="CREATE", context=context).mutated
        for document in documents
    ]


def run_mutate(paths: Sequence[str], settings: Settings, validator: Validator | None, show_diff: bool) -> int:
    documents = load(paths)
    mutated = mutate_documents(documents, settings, validator)
    if show_diff:
        for document, after in zip(documents, mutated, strict=True):
            before_text, after_text = dump(document.obj), dump(after)
            if before_text != after_text:
                sys.stdout.writelines(
                    difflib.unified_diff(
                        before_text.splitlines(keepends=True),
                        after_text.splitlines(keepends=True),
                        f"a/{document.source}",
                        f"b/{document.source}",
                    )
                )
    else:
        sys.stdout.write("---\n".join(dump(obj) for obj in mutated))
    context = input_context(mutated, validator)
    remaining = [
        (document.source, finding)
        for document, obj in zip(documents, mutated, strict=True)
        for finding in engine.check(obj, settings, namespace=document.namespace, context=context).findings
        if finding.severity is Severity.DENY
    ]
    for source, finding in remaining:
        print(f"{source}: {finding.kind} {finding.name}: [{finding.policy}] {finding.message}", file=sys.stderr)
    return EXIT_FINDINGS if remaining else EXIT_OK
