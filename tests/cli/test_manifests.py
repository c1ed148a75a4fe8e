"""The manifest loader: documents, Lists, JSON, folders, stdin, and errors that name file and document."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from haproxy_guard.cli import manifests
from haproxy_guard.cli.manifests import ManifestError, _construct, _Loader, iter_documents, load, parse_text

TWO = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\n# only a comment\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: b}\n"


def test_documents_keep_their_numbers_and_empty_ones_are_skipped() -> None:
    documents = parse_text(TWO, "two.yaml")
    assert [(d.source, d.obj["kind"]) for d in documents] == [("two.yaml#0", "ConfigMap"), ("two.yaml#3", "Secret")]


def test_lists_are_flattened() -> None:
    text = "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n- {apiVersion: v1, kind: Secret, metadata: {name: b}}\n"
    documents = parse_text(text, "list.yaml")
    assert [d.obj["kind"] for d in documents] == ["ConfigMap", "Secret"]
    typed = parse_text(text.replace("kind: List", "kind: ConfigMapList"), "typed.yaml")
    assert len(typed) == 2


def test_timestamps_stay_strings() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, creationTimestamp: 2026-01-01T00:00:00Z}\ndata: {d: 2026-01-01}\n"
    obj = parse_text(text, "t.yaml")[0].obj
    assert obj["metadata"]["creationTimestamp"] == "2026-01-01T00:00:00Z" and obj["data"]["d"] == "2026-01-01"


def test_json_files(tmp_path: Path) -> None:
    path = tmp_path / "object.json"
    path.write_text('{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}')
    assert load([str(path)])[0].source == f"{path}#0"


def test_folders_are_walked_for_yaml_and_json_only(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yml").write_text(TWO)
    (tmp_path / "a.yaml").write_text(TWO)
    (tmp_path / "notes.txt").write_text("kind: nothing")
    assert [d.source for d in load([str(tmp_path)])] == [
        f"{tmp_path}/a.yaml#0",
        f"{tmp_path}/a.yaml#3",
        f"{tmp_path}/sub/b.yml#0",
        f"{tmp_path}/sub/b.yml#3",
    ]


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(TWO))
    assert [d.source for d in load([])] == ["<stdin>#0", "<stdin>#3"]


def test_line_of_a_pointer() -> None:
    text = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\nspec:\n  template:\n    spec:\n      containers:\n      - name: haproxy\n        image: haproxy\n"
    document = parse_text(text, "d.yaml")[0]
    assert document.line_of("/spec/template/spec/containers/0/image") == 10
    assert document.line_of("/spec/template/spec/containers/0/lifecycle/preStop") == 9, "deepest existing node"
    assert document.line_of(None) == 1


@pytest.mark.parametrize(
    ("text", "name", "message"),
    [
        pytest.param("a: [\n", "bad.yaml", "bad.yaml#0: not valid YAML: line 2:", id="yaml-syntax"),
        pytest.param(
            TWO + "---\nkey: [unclosed\n", "late.yaml", "late.yaml#4: not valid YAML: line 13:", id="later-document"
        ),
        pytest.param(
            "- 1\n- 2\n",
            "seq.yaml",
            "seq.yaml#0: expected a Kubernetes object (a mapping), got list",
            id="not-a-mapping",
        ),
        pytest.param(
            "apiVersion: v1\nmetadata: {}\n",
            "nokind.yaml",
            "nokind.yaml#0: every object needs apiVersion and kind",
            id="no-kind",
        ),
        pytest.param(
            "apiVersion: v1\nkind: List\nitems: [3]\n",
            "l.yaml",
            "l.yaml#0 items[0]: expected a Kubernetes object",
            id="list-item",
        ),
        pytest.param("{", "x.json", "x.json#0: not valid JSON: line 1:", id="json"),
    ],
)
def test_errors_name_the_file_and_document(text: str, name: str, message: str) -> None:
    with pytest.raises(ManifestError) as error:
        parse_text(text, name)
    assert str(error.value).startswith(message), str(error.value)


def test_a_missing_path_is_an_error() -> None:
    with pytest.raises(ManifestError, match=r"nowhere\.yaml: no such file or folder"):
        load(["nowhere.yaml"])


def test_a_wrong_type_names_file_document_and_field() -> None:
    text = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\n---\n"
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n"
        "spec: {template: {spec: {containers: [{name: [], image: haproxy}]}}}\n"
    )
    with pytest.raises(ManifestError) as error:
        parse_text(text, "edge.yaml")
    assert str(error.value) == "edge.yaml#1 (Deployment): spec.template.spec.containers[0].name: expected string"


def _pyyaml(text: str) -> list[object]:
    """PyYAML's own safe constructor on the same loader settings (timestamps stay strings)."""
    loader = _Loader(text)
    documents = []
    try:
        while loader.check_node():
            documents.append(loader.construct_document(loader.get_node()))
    finally:
        loader.dispose()
    return documents


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(_VALUES)
def test_the_fast_constructor_builds_what_pyyaml_builds(value: object) -> None:
    text = yaml.safe_dump({"apiVersion": "example.io/v1", "kind": "Thing", "data": value}, allow_unicode=True)
    documents = parse_text(text, "x.yaml")
    assert [document.obj for document in documents] == _pyyaml(text)


@pytest.mark.parametrize(
    "text",
    [
        "a: &x {b: [1, 2.5, true, null, 0x1F, 0o17, .inf, -.inf, 2026-01-01, '007', 1_000]}\nc: *x\n",
        "base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3\n",  # merge keys: PyYAML's constructor
        "x: !!binary aGVsbG8=\ny: !!str 12\nz: !!int '7'\n",
        "? [1, 2]\n: complex key\n",  # unhashable key: PyYAML's error
        "x: !custom tag\n",
        "&a [*a]\n",  # a recursive alias
        "{1: one, 2.5: two, true: three, null: four}\n",
    ],
)
def test_unusual_documents_are_built_exactly_as_pyyaml_builds_them(text: str) -> None:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        assert node is not None
        try:
            expected: object = _pyyaml(text)[0]
        except yaml.YAMLError as error:
            with pytest.raises(yaml.YAMLError, match=re.escape(str(error.problem))):  # type: ignore[attr-defined]
                _construct(loader, node)
            return
        built = _construct(loader, node)
    finally:
        loader.dispose()
    if text.startswith("&a"):
        assert isinstance(built, list) and built[0] is built
    else:
        assert built == expected


def test_aliases_share_one_object_so_a_billion_laughs_stays_small() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 10):
        previous = chr(ord("a") + level - 1)
        lines.append(f"{chr(ord('a') + level)}: &{chr(ord('a') + level)} [{', '.join(['*' + previous] * 10)}]")
    text = "apiVersion: example.io/v1\nkind: Thing\ndata:\n" + "\n".join("  " + line for line in lines) + "\n"
    data = parse_text(text, "laughs.yaml")[0].obj["data"]
    assert data["j"][0] is data["j"][1] is data["i"]  # 10**10 leaves if copied; one object each here


def test_nodes_are_kept_only_when_asked() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
    assert parse_text(text, "x.yaml")[0].line_of("/metadata/name") == 3
    without = parse_text(text, "x.yaml", keep_nodes=False)[0]
    assert without.node is None and without.line_of("/metadata/name") is None
    assert without.obj == parse_text(text, "x.yaml")[0].obj


def test_documents_are_read_one_file_at_a_time(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    (tmp_path / "b.yaml").write_text("apiVersion: v1\nkind: [broken\n")
    documents = iter_documents([str(tmp_path)])
    assert next(documents).obj["metadata"]["name"] == "a"  # read before the broken file is opened
    with pytest.raises(ManifestError, match=re.escape("b.yaml#0")):
        next(documents)


class _ReferenceLoader(yaml.CSafeLoader):
    """`_Loader`'s resolvers with PyYAML's own `resolve` (no memo): the oracle for the memoized one."""

    yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers


_SPECIAL_SCALARS = (
    "", "~", "null", "Null", "NULL", "nul", "yes", "Yes", "YES", "no", "No", "on", "Off", "y", "n", "true", "False",
    "0", "-0", "+12", "0x1F", "0o17", "017", "0b101", "1_000", "1:20", "190:20:30", "1.5", "-.5", "1e3", "1.0e+3",
    ".inf", "-.Inf", ".NaN", ".nan", "2026-01-01", "2026-01-01T10:00:00Z", "=", "<<", "-", ":", "07", "x" * 80,
)  # fmt: skip


def _tags(node: yaml.Node) -> list[tuple[str, object]]:
    if isinstance(node, yaml.ScalarNode):
        return [(node.tag, node.value)]
    children = [child for pair in node.value for child in pair] if isinstance(node, yaml.MappingNode) else node.value
    return [(node.tag, None), *(tag for child in children for tag in _tags(child))]


def _composed(loader_class: type[yaml.CSafeLoader], text: str) -> list[tuple[str, object]]:
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        return _tags(node) if node is not None else []
    finally:
        loader.dispose()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(_SPECIAL_SCALARS) | st.from_regex(r"[-+.~0-9a-zA-Z_:<=]{0,12}", fullmatch=True)))
def test_memoized_resolution_tags_every_scalar_as_pyyaml_does(words: list[str]) -> None:
    # plain, quoted and block forms of the same words, read twice (the second read answers from the memo)
    lines = [f"- {word}" for word in words if word.strip() == word and word[:1] not in {"-", ":", "?", ""}]
    lines += [f"- '{word}'" for word in words] + [f"- |\n  {word}" for word in words if word.strip()]
    lines += [f"- [{word}]" for word in words if word and not set(word) & {":", "-"}]
    text = "\n".join(lines) or "[]"
    try:
        expected = _composed(_ReferenceLoader, text)
    except yaml.YAMLError:
        with pytest.raises(yaml.YAMLError):
            _composed(_Loader, text)
        return
    assert _composed(_Loader, text) == expected
    assert _composed(_Loader, text) == expected


def test_the_resolution_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manifests, "_RESOLVED", {})
    monkeypatch.setattr(manifests, "_RESOLVED_MAX_ENTRIES", 5)
    text = "\n".join(f"- v{index}" for index in range(50)) + f"\n- {'y' * 200}\n"
    assert _composed(_Loader, text) == _composed(_ReferenceLoader, text)
    assert len(manifests._RESOLVED) == 5
    assert all(len(value) <= manifests._RESOLVED_MAX_CHARS for value in manifests._RESOLVED)
