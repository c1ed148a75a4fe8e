"""`mutate` output fit to commit: unchanged documents byte for byte, changed ones edited only where a fix
applies (comments, order, quoting, block scalars kept), and always the engine's mutation in meaning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from haproxy_guard.cli.audit import input_context
from haproxy_guard.cli.manifests import parse_text
from haproxy_guard.cli.roundtrip import rewrite_stream
from haproxy_guard.policies import engine
from haproxy_guard.policies.model.settings import Settings
from tests.cli.test_audit_command import run
from tests.helpers import GOLDEN, ROOT, golden_id

CHART = """\
---
# Source: edge/templates/configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: edge-haproxy   # the chart's configuration
data:
  haproxy.cfg: |
    global
      maxconn 4000
    defaults
      mode http
      timeout client 30s
      timeout server 30s
      timeout connect 5s
    frontend fe
      bind :8080
      default_backend app
    backend app
      server a1 10.0.0.1:8080
---
# Source: edge/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: edge
  labels:
    app.kubernetes.io/name: "edge"       # quoted on purpose
spec:
  replicas: 2
  selector:
    matchLabels:
      app: edge
  template:
    metadata:
      labels:
        app: edge
    spec:
      containers:
        - name: haproxy
          image: "haproxy:3.2"
          args: ['-f', '/usr/local/etc/haproxy/haproxy.cfg']   # single quotes stay
          ports:
            - containerPort: 8080
          volumeMounts:
            - name: config
              mountPath: /usr/local/etc/haproxy
      volumes:
        - name: config
          configMap:
            name: edge-haproxy
---
# Source: edge/templates/service.yaml
apiVersion: v1
kind: Service
metadata: {name: edge}
spec:
  ports: [{port: 80, targetPort: 8080}]
"""


def _mutate(text: str, *args: str) -> Any:
    return run("mutate", *args, "-", stdin=text)


def test_a_file_without_haproxy_workloads_is_byte_identical() -> None:
    text = "# comments stay\napiVersion: v1\nkind: Service\nmetadata:\n  name: web   # trailing\nspec:  \n  ports:\n  - {port: 80}\n\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\ndata:\n  a: |-\n    keep\n      this\n"
    result = _mutate(text)
    assert result.returncode == 0, result.stderr
    assert result.stdout == text
    assert _mutate(text, "--check").returncode == 0


def test_a_changed_file_keeps_comments_quotes_blocks_and_differs_only_where_fixes_apply() -> None:
    result = _mutate(CHART)
    assert result.returncode == 0, result.stderr
    before, after = CHART.splitlines(), result.stdout.splitlines()
    for line in before:
        if "# Source:" in line or "#" in line or "'" in line or '"' in line or line.startswith("    "):
            assert line in after, f"kept as written: {line!r}"
    removed = [line for line in before if line not in after]
    assert removed == [], "nothing of the input is rewritten here: fixes only add keys"
    assert (
        after[: before.index("# Source: edge/templates/deployment.yaml")]
        == before[: before.index("# Source: edge/templates/deployment.yaml")]
    ), "the ConfigMap document and its comments are untouched"
    assert "          lifecycle:" in after, "new keys take the document's own sequence indentation"
    assert result.stdout.endswith(CHART[CHART.index("# Source: edge/templates/service.yaml") :])


def test_check_exits_1_and_prints_nothing_when_output_would_differ() -> None:
    result = _mutate(CHART, "--check")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "would change: <stdin>" in result.stderr
    fixed = _mutate(CHART).stdout
    again = _mutate(fixed, "--check")
    assert again.returncode == 0 and again.stdout == "" and again.stderr == ""


def test_output_is_idempotent() -> None:
    first = _mutate(CHART).stdout
    assert _mutate(first).stdout == first


def _engine_objects(text: str) -> list[dict[str, Any]]:
    documents = parse_text(text, "input.yaml")
    context = input_context([document.obj for document in documents], None)
    return [engine.mutate(document.obj, Settings(), context=context).mutated for document in documents]


def _rewritten_objects(text: str) -> list[dict[str, Any]]:
    documents = parse_text(text, "input.yaml")
    context = input_context([document.obj for document in documents], None)
    changes: dict[int, list[tuple[str, list[Any]]]] = {}
    for document in documents:
        mutation = engine.mutate(document.obj, Settings(), context=context)
        if mutation.changed_by:
            prefix = "" if document.item is None else f"/items/{document.item}"
            changes.setdefault(document.index, []).append((prefix, mutation.patch))
    output = rewrite_stream(text.encode(), changes).decode()
    return [document.obj for document in parse_text(output, "output.yaml")]


def _cases() -> list[Path]:
    inputs = sorted(GOLDEN.glob("*/*/input.yaml"))
    scenarios = sorted((ROOT / "tests" / "scenarios").glob("*/resources.yaml"))
    corpus = sorted((ROOT / "tests" / "charts" / "rendered").glob("*.yaml"))
    return [*inputs, *scenarios, *corpus, ROOT / "examples" / "haproxy-deployment.yaml"]


@pytest.mark.parametrize("path", _cases(), ids=lambda p: golden_id(p) if p.name == "input.yaml" else p.name)
def test_the_rewritten_text_means_exactly_the_engines_mutation(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert _rewritten_objects(text) == _engine_objects(text)


@pytest.mark.parametrize("indent", ["flush", "indented"])
def test_list_documents_crlf_and_flow_collections(indent: str) -> None:
    dash = "  - " if indent == "indented" else "- "
    more = "    " if indent == "indented" else "  "
    text = (
        "apiVersion: v1\r\nkind: List\r\nitems:\r\n"
        f"{dash}apiVersion: apps/v1\r\n{more}kind: Deployment\r\n{more}metadata: {{name: lb}}  # flow\r\n"
        f"{more}spec:\r\n{more}  replicas: 2\r\n{more}  selector: {{matchLabels: {{app: lb}}}}\r\n"
        f"{more}  template:\r\n{more}    metadata: {{labels: {{app: lb}}}}\r\n{more}    spec:\r\n"
        f"{more}      containers: [{{name: haproxy, image: 'haproxy:3.2'}}]\r\n"
    )
    assert _rewritten_objects(text) == _engine_objects(text)
    output = rewrite_stream(text.encode(), {0: [("/items/0", _patch_of(text))]}).decode()
    assert "\n" not in output.replace("\r\n", ""), "CRLF line ends stay CRLF"
    assert "metadata: {name: lb}  # flow" in output


def _patch_of(text: str) -> list[Any]:
    document = parse_text(text, "x.yaml")[0]
    return engine.mutate(document.obj, Settings()).patch


def test_several_files_are_one_stream_in_input_order(tmp_path: Path) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.json"
    first.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: a}")  # no final newline
    second.write_text(json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "b"}}))
    result = run("mutate", str(first), str(second))
    assert result.returncode == 0, result.stderr
    assert [d["metadata"]["name"] for d in yaml.safe_load_all(result.stdout)] == ["a", "b"]
    assert result.stdout.startswith(first.read_text() + "\n---\n")
