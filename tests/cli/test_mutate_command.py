"""`haproxy-guard mutate`: a Helm post-renderer whose output is valid, ordered and idempotent."""

from __future__ import annotations

import yaml

from tests.cli.test_audit_command import run
from tests.helpers import ROOT, assert_valid_kubernetes

RENDERED = (
    (ROOT / "examples" / "haproxy-configmap.yaml").read_text()
    + "---\n"
    + (ROOT / "examples" / "haproxy-deployment.yaml").read_text()
    + """---
apiVersion: v1
kind: Service
metadata:
  name: edge-haproxy
  namespace: edge
spec:
  selector: {app: edge-haproxy}
  ports: [{port: 80, targetPort: 8080}]
"""
)


def test_post_renderer_output_is_valid_ordered_and_idempotent() -> None:
    first = run("mutate", stdin=RENDERED)
    assert first.returncode == 0, first.stderr
    documents = list(yaml.safe_load_all(first.stdout))
    assert [d["kind"] for d in documents] == ["ConfigMap", "PodDisruptionBudget", "Deployment", "Service"]
    for document in documents:
        assert_valid_kubernetes(document)
    originals = list(yaml.safe_load_all(RENDERED))
    assert documents[0] == originals[0] and documents[3] == originals[3], "other documents unchanged in meaning"
    template = documents[2]["spec"]["template"]
    assert template["metadata"]["annotations"]["haproxy-guard.io/config-hash"].startswith("sha256:")
    second = run("mutate", "-", stdin=first.stdout)
    assert second.stdout == first.stdout, "a second mutate changes nothing"


def test_diff_shows_only_the_changes() -> None:
    result = run("mutate", "--diff", stdin=RENDERED)
    assert result.returncode == 0
    assert result.stdout.startswith("--- a/<stdin>\n+++ b/<stdin>\n")
    assert "+      terminationGracePeriodSeconds: 45" in result.stdout
    changed = [line for line in result.stdout.splitlines() if line[:1] in "+-" and line[:3] not in {"+++", "---"}]
    removed = [line for line in changed if line.startswith("-")]
    assert "-            tcpSocket:" in removed, "the shallow probe is replaced"
    assert len(removed) <= 6, f"only the readiness probe's lines are rewritten: {removed}"


def test_remaining_deny_findings_exit_1_and_are_listed() -> None:
    recreate = RENDERED.replace("spec:\n  replicas: 3", "spec:\n  strategy: {type: Recreate}\n  replicas: 3")
    result = run("mutate", stdin=recreate)
    assert result.returncode == 1
    assert "<stdin>#2: Deployment edge-haproxy: [deployment-recreate]" in result.stderr
    assert len(list(yaml.safe_load_all(result.stdout))) == 4, "the documents are still printed"
