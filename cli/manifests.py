"""Reading Kubernetes manifests for the CLI: files, folders and stdin; multi-document YAML, JSON, Lists.

Empty documents are skipped (their numbers still count, so `file#2` is the third document as written);
`kind: List` and `*List` documents are flattened; every object must be a mapping with apiVersion and kind.
Any problem is a ManifestError naming the file and document, never a traceback. Timestamps stay strings
(YAML would turn them into dates that JSON cannot print), and each object keeps its node tree so a finding's
JSON pointer can be mapped to a line (for SARIF).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from haproxy_guard.policies.model.shapes import ShapeError, check_shape

SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "-"


class ManifestError(Exception):
    """Bad input: the message names the file and the document."""


class _Loader(yaml.CSafeLoader):
    """The safe loader, libyaml's C parser and composer when PyYAML has them (about 10 times faster than the
    pure-Python composer, with the same nodes and marks), without the timestamp resolver: `2026-01-01` stays
    a string."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.copy().items()
}

_RESOLVED: dict[str, str] = {}
"""Plain scalar -> its tag, as `_Loader`'s resolvers decide it (a function of the text alone: the loader has
no path resolvers). libyaml calls `resolve` for every scalar, and PyYAML's tries up to six expressions each
time: about a tenth of reading a manifest. Short values only, and a bounded count (input is untrusted)."""
_RESOLVED_MAX_ENTRIES, _RESOLVED_MAX_CHARS = 16384, 64


_PYYAML_RESOLVE: Callable[[yaml.resolver.BaseResolver, Any, Any, Any], str] = yaml.resolver.BaseResolver.resolve


def _resolve(self: yaml.resolver.BaseResolver, kind: Any, value: Any, implicit: Any) -> str:
    """PyYAML's `resolve`, memoized for plain scalars (see `_RESOLVED`)."""
    if kind is yaml.ScalarNode and isinstance(value, str) and not self.yaml_path_resolvers:
        if not implicit[0]:
            return _STR  # quoted, or a block scalar: a string
        tag = _RESOLVED.get(value)
        if tag is None:
            tag = _PYYAML_RESOLVE(self, kind, value, implicit)
            if len(value) <= _RESOLVED_MAX_CHARS and len(_RESOLVED) < _RESOLVED_MAX_ENTRIES:
                _RESOLVED[value] = tag
        return tag
    return _PYYAML_RESOLVE(self, kind, value, implicit)


_Loader.resolve = _resolve  # type: ignore[method-assign]


_STR, _MAP, _SEQ = "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"


class _Unusual(Exception):
    """The document needs PyYAML's full constructor: a merge key, another tag, a recursive alias."""


MAX_DEPTH = 100
"""Mappings and sequences nested in one document, at most. Kubernetes objects stay far below (the deepest in
this repository's corpora, vendored charts included, nest 13 levels; a CRD's schema a few dozen). The
reader, the report and `mutate`'s rewrite (ruamel) recurse once to four times a level, and Python stops at
a thousand frames: a document nested a few hundred levels deep was a traceback; past this it is an error
naming the file and document."""


class _TooDeep(Exception):
    """The document nests deeper than `MAX_DEPTH`."""


def _too_deep(data: Any) -> bool:
    """Whether `data` nests mappings and sequences deeper than `MAX_DEPTH` (without recursing itself)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Iterable[Any] = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > MAX_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _construct(loader: _Loader, root: yaml.Node) -> Any:
    """The document's data from its nodes: plain mappings, sequences and strings built directly (about 3 times
    faster than PyYAML's generic constructor), other scalars by PyYAML's own constructors. An alias gives the
    same object, as PyYAML does (a billion-laughs document stays small); anything unusual goes to PyYAML."""
    constructors = loader.yaml_constructors
    built: dict[int, Any] = {}
    in_progress = object()

    def walk(node: yaml.Node, depth: int) -> Any:
        kind = type(node)
        if kind is yaml.ScalarNode:
            if node.tag == _STR:
                return node.value
            constructor = constructors.get(node.tag)
            if constructor is None:
                raise _Unusual
            return constructor(loader, node)
        found = built.get(id(node))
        if found is in_progress:
            raise _Unusual
        if found is not None:
            return found
        if depth > MAX_DEPTH:
            raise _TooDeep
        built[id(node)] = in_progress
        result: Any
        if kind is yaml.MappingNode and node.tag == _MAP:
            result = {}
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE:
                    raise _Unusual
                key = walk(key_node, depth + 1)
                try:
                    result[key] = walk(value_node, depth + 1)
                except TypeError:  # an unhashable key: PyYAML's error message
                    raise _Unusual from None
        elif kind is yaml.SequenceNode and node.tag == _SEQ:
            result = [walk(child, depth + 1) for child in node.value]
        else:
            raise _Unusual
        built[id(node)] = result
        return result

    try:
        return walk(root, 1)
    except _Unusual:
        return loader.construct_document(root)


@dataclass(frozen=True)
class Document:
    """One Kubernetes object from the input, where it came from, and its YAML node (None for JSON)."""

    file: str
    index: int
    obj: dict[str, Any]
    node: yaml.Node | None = None
    item: int | None = None
    """The position in the `items` of the List document it came from (None: the document itself)."""

    @property
    def source(self) -> str:
        return f"{self.file}#{self.index}"

    @property
    def namespace(self) -> str | None:
        metadata = self.obj.get("metadata")
        value = metadata.get("namespace") if isinstance(metadata, dict) else None
        return str(value) if value else None

    def line_of(self, pointer: str | None) -> int | None:
        """The 1-based line of the deepest existing node on `pointer`, or the document's first line."""
        node = self.node
        if node is None:
            return None
        line = node.start_mark.line + 1
        for token in (pointer or "").split("/")[1:]:
            key = token.replace("~1", "/").replace("~0", "~")
            child = None
            if isinstance(node, yaml.MappingNode):
                child = next((value for name, value in node.value if name.value == key), None)
            elif isinstance(node, yaml.SequenceNode) and key.isdigit() and int(key) < len(node.value):
                child = node.value[int(key)]
            if child is None:
                break
            node, line = child, child.start_mark.line + 1
        return line


def _objects(file: str, index: int, data: Any, node: yaml.Node | None) -> list[Document]:
    where = f"{file}#{index}"
    if not isinstance(data, dict):
        raise ManifestError(f"{where}: expected a Kubernetes object (a mapping), got {type(data).__name__}")
    kind, api_version = data.get("kind"), data.get("apiVersion")
    if not isinstance(kind, str) or not kind or not isinstance(api_version, str) or not api_version:
        raise ManifestError(f"{where}: every object needs apiVersion and kind")
    if kind == "List" or (kind.endswith("List") and "items" in data):
        items = data.get("items") or []
        if not isinstance(items, list):
            raise ManifestError(f"{where}: {kind}.items must be a list")
        item_nodes = _list_item_nodes(node)
        documents: list[Document] = []
        for position, item in enumerate(items):
            try:
                found = _objects(file, index, item, item_nodes[position] if item_nodes else None)
                documents.extend(
                    document if document.item is not None else dataclasses.replace(document, item=position)
                    for document in found
                )
            except ManifestError as error:
                raise ManifestError(str(error).replace(where, f"{where} items[{position}]", 1)) from None
        return documents
    try:
        check_shape(data, kind)
    except ShapeError as error:
        raise ManifestError(f"{where} ({kind}): {error}") from None
    return [Document(file, index, data, node)]


def _too_deep_message(where: str) -> str:
    return f"{where}: nested deeper than {MAX_DEPTH} levels of mappings and sequences (no Kubernetes object is)"


def _list_item_nodes(node: yaml.Node | None) -> list[yaml.Node] | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    items = next((value for key, value in node.value if key.value == "items"), None)
    return list(items.value) if isinstance(items, yaml.SequenceNode) else None


def parse_text(text: str, file: str, keep_nodes: bool = True) -> list[Document]:
    """The objects in one file's text; with `keep_nodes` False they carry no YAML node (no `line_of`): nodes
    take about four times the memory of the objects."""
    if file.endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ManifestError(f"{file}#0: not valid JSON: line {error.lineno}: {error.msg}") from None
        except RecursionError:
            raise ManifestError(_too_deep_message(f"{file}#0")) from None
        if _too_deep(data):
            raise ManifestError(_too_deep_message(f"{file}#0"))
        return _objects(file, 0, data, None)
    template = _HELM_ACTION.search(text)
    if template is not None:
        line = text.count("\n", 0, template.start()) + 1
        raise ManifestError(
            f"{file}: line {line}: a Helm template ({template.group(0)}...), not a manifest: render the chart "
            "first (`helm template RELEASE CHART | haproxy-guard audit -`)"
        )
    documents: list[Document] = []
    loader = _Loader(text)
    index = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                data = _construct(loader, node)
                if data is not None:
                    documents.extend(_objects(file, index, data, node if keep_nodes else None))
            index += 1
    except (_TooDeep, RecursionError):
        raise ManifestError(_too_deep_message(f"{file}#{index}")) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}:" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ManifestError(f"{file}#{index}: not valid YAML:{where} {problem}") from None
    finally:
        loader.dispose()
    return documents


HELM_CHART_FILES = ("Chart.yaml", "Chart.yml")
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_HELM_ACTION = re.compile(
    r"\{\{-?\s*(?:[^{}\n]*\.(?:Values|Release|Chart|Capabilities|Files|Template)\b|(?:include|template|define)\s+\\?\")"
)
"""A Helm template action (`{{ .Values.x }}`, `{{- include "..." . }}`): text that is a chart's template, not
a manifest. Rendered manifests may hold other `{{ }}` (Prometheus rule templates, `{{ $labels.pod }}`)."""


def _render_first(folder: Path) -> str | None:
    """Why a folder cannot be read as manifests (a Helm chart, a kustomization), with the command to render it."""
    if any((folder / name).is_file() for name in HELM_CHART_FILES):
        return f"{folder}: a Helm chart: render it first, e.g. `helm template RELEASE {folder} | haproxy-guard audit -`"
    if any((folder / name).is_file() for name in KUSTOMIZATION_FILES):
        return f"{folder}: a kustomization: render it first, e.g. `kubectl kustomize {folder} | haproxy-guard audit -`"
    return None


def _excluded(path: Path, folder: Path, exclude: Sequence[str]) -> bool:
    relative = path.relative_to(folder).as_posix()
    return any(fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(path.name, pattern) for pattern in exclude)


def expand(paths: Iterable[str], exclude: Sequence[str] = ()) -> list[str]:
    """The files `paths` name, in input order: files as given, folders walked (sorted, every `*.yaml`, `*.yml`
    and `*.json`, fixtures included unless `exclude` globs name them), `-` kept. A Helm chart or kustomize folder
    is an error saying how to render it."""
    files: list[str] = []
    for path in paths:
        if path == STDIN:
            files.append(STDIN)
            continue
        candidate = Path(path)
        if candidate.is_dir():
            found = sorted(
                p
                for p in candidate.rglob("*")
                if p.is_file() and p.suffix in SUFFIXES and not _excluded(p, candidate, exclude)
            )
            for folder in sorted({candidate, *(p.parent for p in found)}):
                reason = _render_first(folder)
                if reason is not None and not _excluded(folder / "x", candidate, exclude):
                    raise ManifestError(reason)
            files.extend(str(p) for p in found)
        elif candidate.exists():
            files.append(path)
        else:
            raise ManifestError(f"{path}: no such file or folder")
    return files


def parse_file(file: str, keep_nodes: bool = True) -> list[Document]:
    """The objects in one file (`-`: standard input); `keep_nodes` as in `parse_text`."""
    if file == STDIN:
        text, name = sys.stdin.read(), "<stdin>"
    else:
        try:
            text, name = Path(file).read_text(encoding="utf-8"), file
        except (OSError, UnicodeDecodeError) as error:
            raise ManifestError(f"{file}: cannot read: {getattr(error, 'strerror', None) or error}") from None
    return parse_text(text, name, keep_nodes)


def iter_documents(paths: Sequence[str], keep_nodes: bool = True, exclude: Sequence[str] = ()) -> Iterator[Document]:
    """Every object in `paths` (files, folders, `-` for stdin; stdin when empty), in input order, one file
    parsed at a time; `keep_nodes` as in `parse_text`, `exclude` as in `expand`."""
    for file in expand(paths or [STDIN], exclude):
        yield from parse_file(file, keep_nodes)


def load(paths: Sequence[str], exclude: Sequence[str] = ()) -> list[Document]:
    """Every object in `paths`, as a list."""
    return list(iter_documents(paths, exclude=exclude))


EMPTY_INPUT = (
    "no Kubernetes object in the input{where}: an empty render (did `helm template` or `kustomize` fail?) "
    "passes nothing; give --allow-empty when empty input is expected"
)


def empty_input_message(paths: Sequence[str]) -> str:
    where = f" ({', '.join(paths)})" if paths else " (standard input)"
    return EMPTY_INPUT.format(where=where)
