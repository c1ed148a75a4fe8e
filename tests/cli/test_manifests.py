"""The manifest loader: documents, Lists, JSON, folders, stdin, and errors that name file and document."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from haproxy_guard.cli.manifests import ManifestError, load, parse_text

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
