"""`mutate` output fit to commit: the input text, with only the changed documents rewritten, and those only
where a fix applies.

The engine decides the change as an RFC 6902 patch on the parsed object. The input file's text is kept byte
for byte, but for the span of each document that changed: that span is loaded with `ruamel.yaml`'s
round-trip loader (comments, key order, quoting, block scalars, anchors kept), the patch is applied to that
tree, and it is dumped with the indentation the document itself uses (sequence dashes flush with their key,
as kubectl writes them, or indented, as Helm does). Spans come from the YAML event stream (character offsets
of each document's start and end), so comments between documents (Helm's `# Source:` lines) stay too.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from haproxy_guard.policies.model.patch import Operation

_KEY_ONLY = re.compile(r"^( *)[^\s#-][^#]*:\s*(?:#.*)?$")
_DASH = re.compile(r"^( *)- ")
_NESTED_KEY = re.compile(r"^( *)[^\s#-]")


class RoundTripError(Exception):
    """A document that changed could not be rewritten in place (the caller falls back or reports it)."""


@dataclass(frozen=True)
class Span:
    """One document of a stream: its body's character range (after `---`, up to the next document)."""

    start: int
    end: int


def document_spans(data: str) -> list[Span]:
    """The span (character offsets, as libyaml counts them) of every document in a YAML stream, in order
    (empty documents included, as the manifest reader counts them)."""
    spans: list[Span] = []
    start = 0
    try:
        for event in yaml.parse(data, Loader=yaml.CSafeLoader):
            if isinstance(event, yaml.DocumentStartEvent) and event.end_mark is not None:
                start = event.end_mark.index
            elif isinstance(event, yaml.DocumentEndEvent) and event.start_mark is not None:
                spans.append(Span(start, event.start_mark.index))
    except yaml.YAMLError as error:
        raise RoundTripError(f"not valid YAML: {error}") from None
    return spans


def _indents(text: str) -> tuple[int, int, int]:
    """(mapping, sequence, offset) as ruamel.yaml's `indent` takes them, read from the document's own lines."""
    lines = text.splitlines()
    mapping, offsets = 2, []
    for current, following in itertools.pairwise(lines):
        key = _KEY_ONLY.match(current)
        if key is None:
            continue
        dash = _DASH.match(following)
        if dash is not None:
            offsets.append(len(dash.group(1)) - len(key.group(1)))
            continue
        nested = _NESTED_KEY.match(following)
        if nested is not None and len(nested.group(1)) > len(key.group(1)):
            mapping = len(nested.group(1)) - len(key.group(1))
    offset = max(set(offsets), key=offsets.count) if offsets else 0
    offset = offset if offset in {0, 2, 4} else 0
    return mapping, offset + 2, offset


def _tokens(pointer: str) -> list[str]:
    return [token.replace("~1", "/").replace("~0", "~") for token in pointer.split("/")[1:]]


def _child(node: Any, token: str) -> Any:
    if isinstance(node, list):
        return node[int(token)]
    return node[token]


def _plain(node: Any) -> Any:
    """A round-trip tree as plain JSON data (what the engine's patch is computed against)."""
    if isinstance(node, dict):
        return {str(key): _plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_plain(item) for item in node]
    return node


def _apply_plain(root: Any, operation: Operation) -> None:
    tokens = _tokens(operation["path"])
    if not tokens:
        raise RoundTripError("a patch that replaces the whole document")
    parent = root
    for token in tokens[:-1]:
        parent = _child(parent, token)
    last, op = tokens[-1], operation["op"]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if op == "add":
            parent.insert(index, operation["value"])
        elif op == "replace":
            parent[index] = operation["value"]
        else:
            del parent[index]
    elif op == "remove":
        del parent[last]
    else:
        parent[last] = operation["value"]


def _dump(value: Any, indents: tuple[int, int, int]) -> list[str]:
    """`value` (a one-key mapping) as block YAML lines in the document's indentation, by ruamel.yaml."""
    dumper = YAML(typ="rt")
    dumper.width = 1_000_000
    mapping, sequence, offset = indents
    dumper.indent(mapping=mapping, sequence=sequence, offset=offset)
    out = io.StringIO()
    dumper.dump(value, out)
    return out.getvalue().splitlines()


def _is_content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _block_end(lines: list[str], first: int, column: int) -> int:
    """The index after the last line of the mapping entry that starts on line `first` at `column`: the following
    lines indented deeper, and the items of a sequence written flush with its key (`- ` at `column`); blank and
    comment lines inside it included, trailing ones not."""
    last = first
    for index in range(first + 1, len(lines)):
        line = lines[index]
        if not _is_content(line):
            continue
        indent = len(line) - len(line.lstrip(" "))
        if indent < column or (
            indent == column and not line[indent:].startswith(("- ", "-\t")) and line[indent:] != "-"
        ):
            break
        last = index
    return last + 1


def _block_mapping(text: str, tokens: list[str]) -> CommentedMap:
    """The block mapping at `tokens` in the document (LookupError for a flow or empty one)."""
    tree = YAML(typ="rt").load(text)
    node = tree
    for token in tokens:
        node = _child(node, token)
    if not isinstance(node, CommentedMap) or not node:
        raise LookupError("not a block mapping")
    line, column = node.lc.key(next(iter(node)))
    lines = text.split("\n")
    if line >= len(lines) or line != node.lc.line or "{" in lines[line][:column] + lines[line][column : column + 1]:
        raise LookupError("a flow mapping")
    return node


def _set(text: str, tokens: list[str], new_value: Any, present: bool, indents: tuple[int, int, int]) -> str:
    """`text` with the key `tokens[-1]` of the block mapping at `tokens[:-1]` set to `new_value`: its lines
    replaced when `present`, else new lines after the mapping's last entry."""
    parent = _block_mapping(text, tokens[:-1])
    lines = text.split("\n")
    key = tokens[-1]
    fragment = _dump({key: new_value}, indents)
    if present:
        line, column = parent.lc.key(key)
        end = _block_end(lines, line, column)
        lines[line:end] = [lines[line][:column] + fragment[0], *(" " * column + extra for extra in fragment[1:])]
    else:
        column = parent.lc.key(next(iter(parent)))[1]
        line = parent.lc.key(list(parent)[-1])[0]
        end = _block_end(lines, line, column)
        lines[end:end] = [" " * column + extra for extra in fragment]
    return "\n".join(lines)


def _remove(text: str, tokens: list[str]) -> str:
    parent = _block_mapping(text, tokens[:-1])
    if len(parent) < 2:
        raise LookupError("removing the last key of a mapping")
    lines = text.split("\n")
    line, column = parent.lc.key(tokens[-1])
    del lines[line : _block_end(lines, line, column)]
    return "\n".join(lines)


def _edit(text: str, plain: Any, operation: Operation, indents: tuple[int, int, int]) -> str:
    """`text` with one patch operation made in place, touching only the lines it changes. An operation inside
    a sequence, a flow collection or an empty mapping rewrites the nearest enclosing block mapping's entry."""
    before = _plain(plain)
    try:
        _apply_plain(plain, operation)
    except (KeyError, IndexError, ValueError, TypeError):
        raise RoundTripError(f"cannot follow {operation['path']}") from None
    target = _tokens(operation["path"])
    while target:
        parent_before: Any = before
        parent_after: Any = plain
        for token in target[:-1]:
            parent_before = _child(parent_before, token)
            parent_after = _child(parent_after, token)
        if isinstance(parent_after, dict) and isinstance(parent_before, dict):
            key = target[-1]
            try:
                if key in parent_after:
                    return _set(text, target, parent_after[key], key in parent_before, indents)
                return _remove(text, target)
            except LookupError:
                pass
        target = target[:-1]
    raise RoundTripError(f"cannot place the change at {operation['path']}")


def rewrite_document(text: str, patches: Sequence[tuple[str, list[Operation]]]) -> str:
    """The document `text` with each (prefix, patch) applied under the pointer `prefix` (a List's item). Only
    the lines of the keys a patch sets change; everything else (comments, order, quoting, block scalars, blank
    lines, trailing spaces) stays as written."""
    if "\r\n" in text:  # a file with CRLF line ends: edited as LF, given back as written
        return rewrite_document(text.replace("\r\n", "\n"), patches).replace("\n", "\r\n")
    indents = _indents(text)
    try:
        plain = _plain(YAML(typ="rt").load(text))
        if not isinstance(plain, dict):
            raise RoundTripError("the document is not a mapping")
        for prefix, patch in patches:
            for operation in patch:
                text = _edit(text, plain, {**operation, "path": prefix + operation["path"]}, indents)
    except YAMLError as error:
        raise RoundTripError(f"cannot load for rewriting: {error}") from None
    return text


def rewrite_stream(data: bytes, changes: dict[int, list[tuple[str, list[Operation]]]]) -> bytes:
    """The UTF-8 stream `data` with the documents at the given positions rewritten (position -> patches); the
    bytes outside those documents' changed lines are kept."""
    if not changes:
        return data
    text = data.decode("utf-8")
    spans = document_spans(text)
    if max(changes) >= len(spans):
        raise RoundTripError("the documents could not be located in the text")
    pieces: list[str] = []
    cursor = 0
    for position in sorted(changes):
        span = spans[position]
        pieces.append(text[cursor : span.start])
        pieces.append(rewrite_document(text[span.start : span.end], changes[position]))
        cursor = span.end
    pieces.append(text[cursor:])
    return "".join(pieces).encode("utf-8")
