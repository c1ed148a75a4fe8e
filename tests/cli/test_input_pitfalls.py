"""Input that must fail loudly: nothing at all, a chart or kustomization instead of its render, a raw template;
and input with nothing HAProxy in it, which is said."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_audit_command import run
from tests.helpers import ROOT


@pytest.mark.parametrize("command", ["audit", "mutate"])
@pytest.mark.parametrize("text", ["", "---\n", "---\n---\n# only a comment\n", "\n\n"])
def test_empty_input_is_exit_2_unless_allowed(command: str, text: str) -> None:
    result = run(command, "-", stdin=text)
    assert result.returncode == 2
    assert "no Kubernetes object in the input" in result.stderr and "--allow-empty" in result.stderr
    allowed = run(command, "--allow-empty", "-", stdin=text)
    assert allowed.returncode == 0, allowed.stderr


def test_an_empty_folder_is_empty_input(tmp_path: Path) -> None:
    result = run("audit", str(tmp_path))
    assert result.returncode == 2 and str(tmp_path) in result.stderr


def test_a_helm_chart_folder_says_render_it_first(tmp_path: Path) -> None:
    (tmp_path / "Chart.yaml").write_text("apiVersion: v2\nname: edge\nversion: 1.0.0\n")
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "deployment.yaml").write_text(
        "kind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n"
    )
    for command in ("audit", "mutate"):
        result = run(command, str(tmp_path))
        assert result.returncode == 2
        assert "a Helm chart: render it first" in result.stderr and "helm template" in result.stderr


def test_a_chart_inside_a_folder_walk_says_so_too(tmp_path: Path) -> None:
    chart = tmp_path / "charts" / "edge"
    chart.mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: edge\nversion: 1.0.0\n")
    (tmp_path / "svc.yaml").write_text("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n")
    result = run("audit", str(tmp_path))
    assert result.returncode == 2 and f"{chart}: a Helm chart" in result.stderr
    assert run("audit", str(tmp_path), "--exclude", "charts/*").returncode == 0


def test_a_kustomization_says_render_it_first(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: [deployment.yaml]\n")
    result = run("audit", str(tmp_path))
    assert result.returncode == 2 and "kubectl kustomize" in result.stderr


@pytest.mark.parametrize(
    "template",
    [
        "metadata:\n  name: {{ .Release.Name }}-haproxy\n",
        'metadata:\n  name: "{{ include \\"edge.fullname\\" . }}"\n',
        "metadata:\n  name: x\nspec:\n  replicas: '{{ .Values.replicaCount }}'\n",
    ],
)
def test_a_raw_helm_template_is_not_audited_as_if_real(template: str) -> None:
    text = "apiVersion: apps/v1\nkind: Deployment\n" + template
    result = run("audit", "-", stdin=text)
    assert result.returncode == 2
    assert "a Helm template" in result.stderr and "render the chart first" in result.stderr


def test_rendered_templates_of_other_tools_are_still_manifests() -> None:
    text = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: rules}\ndata:\n"
        "  alert: 'summary: {{ $labels.pod }} restarted {{ $value }} times'\n"
    )
    assert run("audit", "-", stdin=text).returncode == 0


def test_folders_include_test_fixtures_unless_excluded(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "deploy.yaml").write_text((ROOT / "examples" / "haproxy-deployment.yaml").read_text())
    (tmp_path / "tests" / "bad.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: 3}\n"
    )
    assert run("audit", str(tmp_path)).returncode == 2, "a fixture is input like any file"
    excluded = run("audit", str(tmp_path), "--exclude", "tests/*")
    assert excluded.returncode == 1, excluded.stderr


def test_input_without_haproxy_is_said_so() -> None:
    text = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec: {containers: [{name: web, image: nginx:1.27}]}\n"
    result = run("audit", "-", stdin=text)
    assert result.returncode == 0
    assert "no HAProxy workload or HAProxy ConfigMap" in result.stderr and "imagePatterns" in result.stderr
    haproxy = run("audit", str(ROOT / "examples"))
    assert "no HAProxy workload" not in haproxy.stderr


HAPROXY_RELEASE = """apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: a}
data:
  haproxy.cfg: |
    defaults
      mode http
      timeout client 1s
      timeout server 1s
      timeout connect 1s
    frontend www
      bind :8080
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d, namespace: a}
spec:
  selector: {matchLabels: {app: d}}
  template:
    metadata: {labels: {app: d}}
    spec:
      containers:
      - name: haproxy
        image: haproxy:2.8
        volumeMounts: [{name: c, mountPath: /usr/local/etc/haproxy}]
      volumes: [{name: c, configMap: {name: cfg}}]
      nodeSelector: {1: x, b: y}
      x-extra: {2: z, c: [1, {3: q, d: e}]}
"""


def _nested(levels: int, mapping: bool) -> str:
    return "{a: " * levels + "1" + "}" * levels if mapping else "[" * levels + "]" * levels


@pytest.mark.parametrize("command", [["audit"], ["audit", "--format", "sarif"], ["mutate"], ["mutate", "--diff"]])
@pytest.mark.parametrize("mapping", [True, False])
def test_a_document_nested_too_deep_is_an_error_naming_it(tmp_path: Path, command: list[str], mapping: bool) -> None:
    """Nesting past `MAX_DEPTH` (hundreds of levels were a RecursionError's traceback in the reader, the report
    or the rewrite) is exit 2 naming file and document; just below it, every command works as usual. The
    Deployment also holds keys of mixed types in free-form fields, which the audit's own keys must take."""
    from haproxy_guard.cli.manifests import MAX_DEPTH

    deep = tmp_path / "deep.yaml"
    deep.write_text(HAPROXY_RELEASE + f"      x-deep: {_nested(MAX_DEPTH + 1, mapping)}\n")
    result = run(*command, str(deep))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert f"{deep}#1: nested deeper than {MAX_DEPTH} levels" in result.stderr
    within = tmp_path / "within.yaml"
    within.write_text(HAPROXY_RELEASE + f"      x-deep: {_nested(MAX_DEPTH - 8, mapping)}\n")
    result = run(*command, str(within))
    assert result.returncode in (0, 1) and "Traceback" not in result.stderr, result.stderr
    assert "haproxy-guard.io/config-hash" in result.stdout  # judged (and for mutate, fixed) as usual


@pytest.mark.parametrize("levels", [120, 5000])
def test_a_json_document_nested_too_deep_is_an_error_naming_it(tmp_path: Path, levels: int) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text(
        '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "deep": '
        + "[" * levels
        + "]" * levels
        + "}"
    )
    for source in (str(deep), "-"):
        result = run("audit", source, stdin=deep.read_text() if source == "-" else None)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert "nested deeper than" in result.stderr or "exceeded maximum nesting depth" in result.stderr  # stdin: YAML
