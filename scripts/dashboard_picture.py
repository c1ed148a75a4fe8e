"""Draws docs/operations/dashboard.png: the Grafana dashboard (manifests/observability/grafana-dashboard.json)
on real data. There is no Grafana here, so its panels are drawn with matplotlib from their own queries, run
by a real Prometheus against a real webhook:

1. `haproxy-guard serve` (self-signed certificates in a temporary folder, /metrics on a plain port);
2. Prometheus (`scripts/build-go-tool.sh prometheus` builds it into .cache/tools) scraping it every 2 s;
3. traffic for `--seconds`: /mutate and /validate of the example Deployment, valid ConfigMaps for three
   HAProxy branches (distinct ones, so real `haproxy -c` runs, and repeats the cache answers), a broken one
   (denied), and a few malformed requests (400);
4. every panel's queries over that window (`$__rate_interval` as 10 s), laid out on the dashboard's grid.

The panel titles are written into the PNG (`Description`), so tests/docs can tell a picture drawn from
another version of the dashboard. Run by hand after changing the dashboard:
    scripts/build-go-tool.sh prometheus && .venv/bin/python scripts/dashboard_picture.py
"""

from __future__ import annotations

import argparse
import json
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import matplotlib as mpl
import yaml

mpl.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "manifests" / "observability" / "grafana-dashboard.json"
OUT = ROOT / "docs" / "operations" / "dashboard.png"
RATE_INTERVAL = "10s"
SCRAPE_SECONDS = 2
BACKGROUND, PANEL, TEXT, GRID = "#111217", "#181b1f", "#ccccdc", "#2c3235"
PALETTE = ["#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9", "#fade2a", "#96d98d"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _review(obj: dict[str, Any], kind: str, group: str = "") -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": {"group": group, "version": "v1", "kind": kind},
            "namespace": "edge",
            "operation": "CREATE",
            "object": obj,
        },
    }


def _configmap(version: str, maxconn: int, broken: bool = False) -> dict[str, Any]:
    documents = yaml.safe_load_all((ROOT / "examples" / "haproxy-configmap.yaml").read_text())
    example = next(doc for doc in documents if doc and doc.get("kind") == "ConfigMap")
    text = re.sub(r"maxconn \d+", f"maxconn {maxconn}", example["data"]["haproxy.cfg"], count=1)
    if broken:
        text += "\n  no-such-keyword here\n"
    metadata = {**example["metadata"], "annotations": {"haproxy-guard.io/haproxy-version": version}}
    return {**example, "metadata": metadata, "data": {**example["data"], "haproxy.cfg": text}}


def _traffic(url: str, ca: Path, seconds: float) -> None:
    """Requests of every kind the dashboard shows, about 15 a second in two threads, for `seconds`."""
    deployment = yaml.safe_load((ROOT / "examples" / "haproxy-deployment.yaml").read_text())
    stop = time.monotonic() + seconds

    def worker(seed: int) -> None:
        chance = random.Random(seed)
        with httpx.Client(base_url=url, verify=str(ca), timeout=10) as client:
            while time.monotonic() < stop:
                roll = chance.random()
                if roll < 0.35:
                    client.post("/mutate", json=_review(deployment, "Deployment", "apps"))
                elif roll < 0.55:
                    client.post("/validate", json=_review(deployment, "Deployment", "apps"))
                elif roll < 0.9:
                    version = chance.choice(["2.6", "2.8", "3.2"])
                    cm = _configmap(version, chance.randint(1000, 1000 + int(40 * (1 + chance.random()))))
                    client.post("/validate", json=_review(cm, "ConfigMap"))
                elif roll < 0.97:
                    client.post("/validate", json=_review(_configmap("3.2", 2000, broken=True), "ConfigMap"))
                else:
                    client.post("/validate", content=b"{not json", headers={"content-type": "application/json"})
                time.sleep(0.12)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _wait(url: str, ca: str | bool = True, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, verify=ca, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    sys.exit(f"{url} did not answer within {seconds:.0f} s")


def _query(prometheus: str, expr: str, start: float, end: float) -> list[dict[str, Any]]:
    expr = expr.replace("$__rate_interval", RATE_INTERVAL)
    answer = httpx.get(
        f"{prometheus}/api/v1/query_range", params={"query": expr, "start": start, "end": end, "step": SCRAPE_SECONDS}
    ).json()
    if answer.get("status") != "success":
        sys.exit(f"{expr}: {answer}")
    return list(answer["data"]["result"])


def _label(metric: dict[str, str], legend: str | None) -> str:
    if legend:
        for key, value in metric.items():
            legend = legend.replace("{{" + key + "}}", value).replace("{{ " + key + " }}", value)
        return legend
    return ", ".join(f"{key}={value}" for key, value in sorted(metric.items())) or "value"


UNITS = {"reqps": "requests/s", "ops": "checks/s", "s": "seconds"}
"""Grafana's units of the dashboard's time series, as axis labels."""


def _draw(panels: list[dict[str, Any]], series: list[list[tuple[str, list[dict[str, Any]]]]], start: float) -> Any:
    """The panels on the dashboard's 24-column grid (inches: `COLUMN` wide, `ROW` high per grid unit)."""
    rows = max(panel["gridPos"]["y"] + panel["gridPos"]["h"] for panel in panels)
    header, column, row = 0.5, 16.0 / 24, 0.36
    size = (24 * column, header + rows * row)
    figure = plt.figure(figsize=size, facecolor=BACKGROUND)
    figure.text(0.01, 1 - 0.25 / size[1], "haproxy-guard", color=TEXT, fontsize=13, va="center", weight="bold")
    for panel, found in zip(panels, series, strict=True):
        grid = panel["gridPos"]
        x, top = grid["x"] * column, header + grid["y"] * row
        width, height = grid["w"] * column, grid["h"] * row
        figure.patches.append(
            Rectangle((x / size[0] + 0.002, 1 - (top + height - 0.05) / size[1]), (width - 0.1) / size[0],
                          (height - 0.1) / size[1], transform=figure.transFigure, facecolor=PANEL, edgecolor=GRID, zorder=-1)
        )  # fmt: skip
        figure.text((x + 0.12) / size[0], 1 - (top + 0.2) / size[1], panel["title"], color=TEXT, fontsize=9)
        left, right, below, above = 0.75, 0.2, 0.45, 0.4
        box = ((x + left) / size[0], 1 - (top + height - below) / size[1],
               (width - left - right) / size[0], (height - below - above) / size[1])  # fmt: skip
        axes = figure.add_axes(box, facecolor=PANEL)
        for spine in axes.spines.values():
            spine.set_color(GRID)
        axes.tick_params(colors=TEXT, labelsize=7)
        if panel["type"] == "stat":
            axes.set_axis_off()
            _stat(axes, found)
            continue
        colour = 0
        for legend, results in found:
            for result in results:
                times = [float(point[0]) - start for point in result["values"]]
                values = [float(point[1]) for point in result["values"]]
                axes.plot(times, values, color=PALETTE[colour % len(PALETTE)], linewidth=1.2,
                          label=_label(result["metric"], legend))  # fmt: skip
                colour += 1
        axes.grid(color=GRID, linewidth=0.5)
        axes.set_xlabel("seconds into the run", color=TEXT, fontsize=7, labelpad=1)
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
        if unit in UNITS:
            axes.set_ylabel(UNITS[unit], color=TEXT, fontsize=7)
        if colour:
            axes.legend(fontsize=6, facecolor=PANEL, edgecolor=GRID, labelcolor=TEXT, loc="upper left", ncols=2)
    return figure


def _stat(axes: Any, found: list[tuple[str, list[dict[str, Any]]]]) -> None:
    values = [
        (_label(result["metric"], legend), float(result["values"][-1][1]))
        for legend, results in found
        for result in results
        if result["values"]
    ]
    per_row = 4 if len(values) > 3 else max(len(values), 1)
    for index, (label, value) in enumerate(values[:8]):
        place, line = index % per_row, index // per_row
        middle = (place + 0.5) / per_row
        text = f"{value:.2f}" if abs(value) < 100 else f"{value:,.0f}"
        axes.text(middle, 0.7 - line * 0.5, text, color=PALETTE[0], fontsize=16, ha="center", transform=axes.transAxes)
        axes.text(middle, 0.55 - line * 0.5, label, color=TEXT, fontsize=6, ha="center", transform=axes.transAxes)
    if not values:
        axes.text(0.5, 0.5, "no data", color=TEXT, ha="center", transform=axes.transAxes)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prometheus", type=Path, default=ROOT / ".cache" / "tools" / "prometheus")
    parser.add_argument("--seconds", type=float, default=150)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--data", type=Path, help="also write the queries' answers here (JSON)")
    parser.add_argument("--redraw", type=Path, metavar="DATA", help="draw from answers written by --data, run nothing")
    args = parser.parse_args(argv)
    if args.redraw:
        saved = json.loads(args.redraw.read_text())
        return _save(_panels(), saved["series"], saved["start"], args.out)
    if not args.prometheus.exists():
        sys.exit(f"{args.prometheus}: missing (scripts/build-go-tool.sh prometheus builds it)")
    panels = _panels()
    with tempfile.TemporaryDirectory(prefix="hg-dashboard-") as work:
        folder = Path(work)
        port, metrics_port, prometheus_port = _free_port(), _free_port(), _free_port()
        webhook = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "haproxy-guard"), "serve", "--host", "127.0.0.1", "--port", str(port),
             "--metrics-port", str(metrics_port), "--cert-dir", str(folder / "certs"), "--self-signed"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        config = {
            "global": {"scrape_interval": f"{SCRAPE_SECONDS}s", "evaluation_interval": f"{SCRAPE_SECONDS}s"},
            "scrape_configs": [{"job_name": "haproxy-guard", "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}]}],
        }  # fmt: skip
        (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
        prometheus = subprocess.Popen(
            [str(args.prometheus), f"--config.file={folder / 'prometheus.yml'}", f"--storage.tsdb.path={folder / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prometheus_port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            _wait(f"http://127.0.0.1:{metrics_port}/metrics")
            ca = folder / "certs" / "ca.crt"
            _wait(f"https://127.0.0.1:{port}/readyz", str(ca))
            api = f"http://127.0.0.1:{prometheus_port}"
            _wait(f"{api}/-/ready")
            start = time.time()
            print(f"traffic for {args.seconds:.0f} s ...", file=sys.stderr)
            _traffic(f"https://127.0.0.1:{port}", ca, args.seconds)
            time.sleep(3 * SCRAPE_SECONDS)
            end = time.time()
            series = [
                [(target.get("legendFormat"), _query(api, target["expr"], start, end)) for target in panel["targets"]]
                for panel in panels
            ]
        finally:
            for process in (webhook, prometheus):
                process.terminate()
                process.wait(timeout=30)
    if args.data:
        args.data.write_text(json.dumps({"start": start, "series": series}))
    return _save(panels, series, start, args.out)


def _panels() -> list[dict[str, Any]]:
    """The dashboard's panels, top to bottom, left to right."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return sorted(panels, key=lambda panel: (panel["gridPos"]["y"], panel["gridPos"]["x"]))


def _save(panels: list[dict[str, Any]], series: Any, start: float, out: Path) -> int:
    figure = _draw(panels, series, start)
    titles = json.dumps([panel["title"] for panel in panels])
    figure.savefig(out, dpi=90, facecolor=BACKGROUND, metadata={"Description": titles})
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
