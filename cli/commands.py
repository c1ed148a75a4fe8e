"""The `audit` and `mutate` commands: load documents, run the shared engine, print, choose the exit code."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import yaml

from haproxy_guard.cli.audit import Audited, audit, denied, input_context
from haproxy_guard.cli.manifests import STDIN, Document, ManifestError, empty_input_message, expand, parse_text
from haproxy_guard.cli.read_ahead import audit_documents
from haproxy_guard.cli.report import render
from haproxy_guard.policies import engine
from haproxy_guard.policies.engine import Mutation
from haproxy_guard.policies.haproxy.validator import Validator
from haproxy_guard.policies.model.findings import Severity
from haproxy_guard.policies.model.patch import Operation
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
    *,
    allow_empty: bool = False,
    exclude: Sequence[str] = (),
) -> int:
    """`documents`: the input already being read (by `read_ahead`), else it is read here. No document at all
    is an error (exit 2) unless `allow_empty`."""
    source = audit_documents(paths, output_format, exclude) if documents is None else documents
    results = audit(source, settings, validator)
    if not results and not allow_empty:
        raise ManifestError(empty_input_message(paths))
    print(render(results, output_format, tool_version(), sys.stdout))
    if output_format == "text":
        for note in notes(results):
            print(note, file=sys.stderr)
    return EXIT_FINDINGS if denied(results) else EXIT_OK


def notes(results: Sequence[Audited]) -> list[str]:
    """What a reader should know beside the findings: that nothing in the input is HAProxy."""
    if results and not any(result.evaluation.subject is not None for result in results):
        return [
            f"note: no HAProxy workload or HAProxy ConfigMap among the {len(results)} resources: nothing was judged. "
            "An HAProxy image haproxy-guard does not recognise? Add its pattern to imagePatterns in the settings, "
            "or list the container in the workload annotation haproxy-guard.io/containers"
        ]
    return []


def mutate_documents(
    documents: Sequence[Document], settings: Settings, validator: Validator | None
) -> list[dict[str, Any]]:
    """Each document's object as the mutating webhook would store it (CREATE), in input order."""
    return [mutation.mutated for mutation in _mutations(documents, settings, validator)]


def _mutations(documents: Sequence[Document], settings: Settings, validator: Validator | None) -> list[Mutation]:
    context = input_context([document.obj for document in documents], validator, settings.image_patterns)
    return [
        engine.mutate(document.obj, settings, namespace=document.namespace, operation="CREATE", context=context)
        for document in documents
    ]


@dataclass(frozen=True)
class MutateOptions:
    diff: bool = False
    check: bool = False
    allow_empty: bool = False
    exclude: tuple[str, ...] = ()


@dataclass
class _Source:
    """One input file: its bytes and its documents."""

    name: str
    data: bytes
    documents: list[Document]


def _read_sources(paths: Sequence[str], exclude: Sequence[str]) -> list[_Source]:
    sources = []
    for file in expand(paths or [STDIN], exclude):
        if file == STDIN:
            name, data = "<stdin>", sys.stdin.buffer.read()
        else:
            name = file
            try:
                data = Path(file).read_bytes()
            except OSError as error:
                raise ManifestError(f"{file}: cannot read: {error.strerror or error}") from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ManifestError(f"{name}: cannot read: not UTF-8 ({error.reason})") from None
        sources.append(_Source(name, data, parse_text(text, name)))
    return sources


def _rewritten(source: _Source, mutations: Sequence[Mutation]) -> bytes:
    """The file's bytes with its changed documents rewritten in place (the rest byte for byte)."""
    changes: dict[int, list[tuple[str, list[Operation]]]] = {}
    for document, mutation in zip(source.documents, mutations, strict=True):
        if mutation.changed_by:
            prefix = "" if document.item is None else f"/items/{document.item}"
            changes.setdefault(document.index, []).append((prefix, mutation.patch))
    if not changes:
        return source.data
    from haproxy_guard.cli.roundtrip import RoundTripError, rewrite_stream  # noqa: PLC0415 - `mutate` only

    try:
        return rewrite_stream(source.data, changes)
    except RoundTripError as error:
        print(f"haproxy-guard: {source.name}: {error}; its documents are re-serialised", file=sys.stderr)
        return "---\n".join(dump(mutation.mutated) for mutation in mutations).encode("utf-8")


def _joined(outputs: Sequence[bytes]) -> bytes:
    """Several files' streams as one: each ends with a newline, and a `---` starts each next file."""
    pieces: list[bytes] = []
    for output in outputs:
        if pieces:
            if not pieces[-1].endswith(b"\n"):
                pieces.append(b"\n")
            if not output.startswith(b"---"):
                pieces.append(b"---\n")
        pieces.append(output)
    return b"".join(pieces)


def run_mutate(
    paths: Sequence[str], settings: Settings, validator: Validator | None, options: MutateOptions | None = None
) -> int:
    """Print the input with every change the mutating webhook would make (`--diff`: as a unified diff;
    `--check`: nothing, exit 1 when something would change). Exit 1 also when deny-level findings remain."""
    options = options or MutateOptions()
    sources = _read_sources(paths, options.exclude)
    documents = [document for source in sources for document in source.documents]
    if not documents and not options.allow_empty:
        raise ManifestError(empty_input_message(paths))
    mutations = _mutations(documents, settings, validator)
    position, outputs = 0, []
    for source in sources:
        mine = mutations[position : position + len(source.documents)]
        position += len(source.documents)
        outputs.append(_rewritten(source, mine))
    changed = [source.name for source, output in zip(sources, outputs, strict=True) if output != source.data]
    if options.check:
        for name in changed:
            print(f"would change: {name}", file=sys.stderr)
    elif options.diff:
        import difflib  # noqa: PLC0415 - `mutate --diff` only

        for source, output in zip(sources, outputs, strict=True):
            if output != source.data:
                sys.stdout.writelines(
                    difflib.unified_diff(
                        source.data.decode("utf-8").splitlines(keepends=True),
                        output.decode("utf-8").splitlines(keepends=True),
                        f"a/{source.name}",
                        f"b/{source.name}",
                    )
                )
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(_joined(outputs))
        sys.stdout.buffer.flush()
    mutated = [mutation.mutated for mutation in mutations]
    context = input_context(mutated, validator, settings.image_patterns)
    remaining = [
        (document.source, finding)
        for document, obj in zip(documents, mutated, strict=True)
        for finding in engine.check(obj, settings, namespace=document.namespace, context=context).findings
        if finding.severity is Severity.DENY
    ]
    for source_name, finding in remaining:
        print(f"{source_name}: {finding.kind} {finding.name}: [{finding.policy}] {finding.message}", file=sys.stderr)
    return EXIT_FINDINGS if remaining or (options.check and changed) else EXIT_OK
