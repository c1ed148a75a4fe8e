"""Benchmark: `haproxy-guard audit --cluster` on the real kube-apiserver of the e2e suite, at 5,000 and at
20,000 objects, streaming (this code) against a baseline revision run the same way in the same invocation.

The cluster holds HAProxy Deployments with the ConfigMaps they mount (a quarter of the objects each; 50
distinct configurations, as releases share a few), and unrelated objects (other Deployments and ConfigMaps,
half). Each audit runs as a subprocess; its time and peak RSS (`bench/peak.py`: the audit's own, never the bench's) are printed with the growth from 5,000
to 20,000 objects. Needs `make e2e-tools`. Run by hand:
`.venv/bin/python bench/bench_cluster_audit.py [--baseline REV] [--small 5000 --large 20000]`.

With `--stand-in`, the same objects come from `bench/api_stand_in.py` (generated page by page, so any size):
5,000, 20,000 and 100,000 objects, each audited with `--format json` (the whole cluster in one pass, the report
streamed) and `--format policyreport` (namespace by namespace), printing time, peak RSS, objects of the
cluster per second and the memory growth against the smallest size:
`.venv/bin/python bench/bench_cluster_audit.py --stand-in [--sizes 5000,20000,100000]`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BUILD = ROOT / ".cache" / "e2e"
from bench import peak  # noqa: E402
from bench.api_stand_in import CONFIG, NAMESPACES  # noqa: E402  (the same objects as the stand-in's)


@contextmanager
def apiserver() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="bench-apiserver-"))
    with (folder / "apiserver.log").open("wb") as log:
        process = subprocess.Popen(
            [str(BUILD / "apiserver.test"), "-test.run", "TestServe", "-test.timeout", "0"],
            env={**os.environ, "HG_E2E_DIR": str(folder)}, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (folder / "kubeconfig").exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit((folder / "apiserver.log").read_text()[-2000:])
            time.sleep(0.2)
        yield folder / "kubeconfig"
    finally:
        (folder / "stop").touch()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(folder, ignore_errors=True)


def _client(kubeconfig: Path) -> Any:
    from kubernetes import client, config

    configuration = client.Configuration()
    config.load_kube_config(str(kubeconfig), client_configuration=configuration)  # type: ignore[no-untyped-call]
    configuration.connection_pool_maxsize = 32
    return client.ApiClient(configuration)


def _post(api: Any, path: str, body: dict[str, Any]) -> None:
    method, url, headers, _, post = api.param_serialize(
        "POST", path, header_params={"Content-Type": "application/json", "Accept": "application/json"},
        auth_settings=["BearerToken"],
    )  # fmt: skip
    response = api.call_api(method, url, headers, body, post, _request_timeout=60)
    response.read()
    if response.status not in {200, 201, 409}:
        raise RuntimeError(f"POST {path}: {response.status} {response.data[:200]!r}")


def _objects(start: int, stop: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """Objects number start..stop-1 of the cluster: of every 4, one HAProxy Deployment, its ConfigMap, one
    unrelated Deployment and one unrelated ConfigMap."""
    for number in range(start, stop):
        release, role = divmod(number, 4)
        ns = f"bench-{release % NAMESPACES}"
        meta = {"name": f"r{release}", "namespace": ns}
        if role == 0:
            yield f"/api/v1/namespaces/{ns}/configmaps", {
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
                "data": {"haproxy.cfg": CONFIG.format(variant=release % 50)},
            }  # fmt: skip
        elif role == 1:
            container = {"name": "haproxy", "image": "haproxy:2.8",
                         "volumeMounts": [{"name": "config", "mountPath": "/usr/local/etc/haproxy"}]}  # fmt: skip
            yield (
                f"/apis/apps/v1/namespaces/{ns}/deployments",
                _deployment(meta, container, [{"name": "config", "configMap": {"name": meta["name"]}}]),
            )
        elif role == 2:
            other = {"name": f"web{release}", "namespace": ns}
            yield (
                f"/apis/apps/v1/namespaces/{ns}/deployments",
                _deployment(other, {"name": "web", "image": "nginx:1.27"}, []),
            )
        else:
            yield f"/api/v1/namespaces/{ns}/configmaps", {
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"other{release}", "namespace": ns},
                "data": {"settings.json": '{"feature": true}' * 20},
            }  # fmt: skip


def _deployment(meta: dict[str, Any], container: dict[str, Any], volumes: list[dict[str, Any]]) -> dict[str, Any]:
    labels = {"app": meta["name"]}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
        "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": [container], "volumes": volumes}}},
    }  # fmt: skip


def load(api: Any, start: int, stop: int) -> float:
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda item: _post(api, *item), _objects(start, stop)))
    return time.monotonic() - started


def audit(kubeconfig: Path, source: Path, output_format: str = "json") -> tuple[float, float, int]:
    """(seconds, peak RSS MiB, resources) of one `audit --cluster --format json` (or `policyreport`) run with
    `source` first on the import path."""
    env = {
        "KUBECONFIG": str(kubeconfig),
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(source),
        "HAPROXY_GUARD_VALIDATORS_DIR": str(ROOT / ".cache" / "validators"),
    }
    measured = peak.run(
        [sys.executable, "-m", "haproxy_guard.cli.main", "audit", "--cluster", "--format", output_format],
        stdout=subprocess.PIPE, env=env, cwd=str(source),
    )  # fmt: skip
    output = measured.output
    if measured.exit_code not in {0, 1}:
        raise RuntimeError(f"audit from {source} failed: {output[-500:]!r}")
    if output_format == "policyreport":
        reports = [report for report in yaml.load_all(output, Loader=yaml.CSafeLoader) if report]
        resources = sum(len({str(r["resources"][0]) for r in report["results"]}) for report in reports)
        return measured.seconds, measured.peak_mib, resources
    return measured.seconds, measured.peak_mib, orjson.loads(output)["summary"]["resources"]


def stand_in(sizes: list[int]) -> None:
    from bench import api_stand_in

    folder = Path(tempfile.mkdtemp(prefix="bench-stand-in-"))
    try:
        figures: dict[tuple[str, int], tuple[float, float, int]] = {}
        for size in sizes:
            for output_format in ("json", "policyreport"):
                with api_stand_in.serve(size) as (url, served):
                    kubeconfig = api_stand_in.kubeconfig(folder, url)
                    figures[output_format, size] = found = audit(kubeconfig, ROOT, output_format)
                seconds, rss, resources = found
                print(
                    f"--format {output_format:<12} {size:>7} objects: {seconds:6.1f} s, {rss:5.0f} MiB peak, "
                    f"{resources} resources, {served.requests} requests, {size / seconds:,.0f} objects/s",
                    flush=True,
                )
        for output_format in ("json", "policyreport"):
            base = figures[output_format, sizes[0]][1]
            growth = ", ".join(f"{size}: {figures[output_format, size][1] / base:.2f}x" for size in sizes[1:])
            print(f"--format {output_format}: memory against {sizes[0]} objects: {growth}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def worktree(revision: str) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="bench-baseline-"))
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(folder), revision], cwd=ROOT, check=True, capture_output=True
    )
    try:
        yield folder
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(folder)], cwd=ROOT, check=False, capture_output=True
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", type=int, default=5000)
    parser.add_argument("--large", type=int, default=20000)
    parser.add_argument("--baseline", help="a git revision to run the same way (e.g. the last non-streaming one)")
    parser.add_argument("--stand-in", action="store_true", help="bench/api_stand_in.py instead of kube-apiserver")
    parser.add_argument("--sizes", default="5000,20000,100000", help="object counts for --stand-in")
    args = parser.parse_args()
    if args.stand_in:
        stand_in([int(size) for size in args.sizes.split(",")])
        return
    with apiserver() as kubeconfig, _client(kubeconfig) as api, maybe_worktree(args.baseline) as baseline:
        for ns in range(NAMESPACES):
            _post(
                api,
                "/api/v1/namespaces",
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"bench-{ns}"}},
            )
        rows: dict[str, dict[int, tuple[float, float, int]]] = {"streaming (this code)": {}}
        if baseline is not None:
            rows[f"baseline {args.baseline}"] = {}
        previous = 0
        for size in (args.small, args.large):
            print(f"loading objects {previous}..{size}: {load(api, previous, size):.1f}s", flush=True)
            previous = size
            for name, figures in rows.items():
                source = ROOT if name.startswith("streaming") else baseline
                assert source is not None
                figures[size] = audit(kubeconfig, source)
        for name, figures in rows.items():
            small, large = figures[args.small], figures[args.large]
            print(
                f"{name}: {args.small} objects {small[0]:.1f}s {small[1]:.0f} MiB ({small[2]} resources); "
                f"{args.large} objects {large[0]:.1f}s {large[1]:.0f} MiB ({large[2]} resources); "
                f"memory growth {large[1] / small[1]:.2f}x, time growth {large[0] / small[0]:.2f}x"
            )


@contextmanager
def maybe_worktree(revision: str | None) -> Iterator[Path | None]:
    if revision is None:
        yield None
        return
    with worktree(revision) as folder:
        yield folder


if __name__ == "__main__":
    main()
