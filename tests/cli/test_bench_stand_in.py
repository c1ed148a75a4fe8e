"""The cluster-audit benchmark's API stand-in (`bench/api_stand_in.py`) answers what `audit --cluster` reads,
page by page, so the figures it gives are of a real audit: every HAProxy Deployment and the ConfigMap it mounts
are audited once, the unrelated objects are listed and left out, and both ways of reading (one pass, namespace
by namespace) see the same resources."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml

from bench import api_stand_in
from haproxy_guard.cli import cluster_audit
from haproxy_guard.policies.model.settings import Settings


def _api(kubeconfig: Path) -> object:
    from kubernetes import client, config

    configuration = client.Configuration()
    config.load_kube_config(str(kubeconfig), client_configuration=configuration)  # type: ignore[no-untyped-call]
    return client.ApiClient(configuration)


def test_the_stand_in_serves_an_audit_page_by_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster_audit, "PAGE_SIZE", 7)
    with api_stand_in.serve(160) as (url, served):
        api = _api(api_stand_in.kubeconfig(tmp_path, url))
        results, requests = cluster_audit.stream_audit(api, None, Settings(), None)
        kinds = sorted({result.document.obj["kind"] for result in results})
        assert kinds == ["ConfigMap", "Deployment"] and len(results) == 2 * 40, "40 releases, each audited once"
        assert requests >= 80 // 7 and served.requests == requests
        out = io.StringIO()
        cluster_audit.write_policy_reports(api, None, Settings(), None, out)
        reports = list(yaml.safe_load_all(out.getvalue()))
        assert [r["metadata"]["namespace"] for r in reports] == sorted(f"bench-{n}" for n in range(20))
        assert sum(len({str(e["resources"][0]) for e in r["results"]}) for r in reports) == 80
