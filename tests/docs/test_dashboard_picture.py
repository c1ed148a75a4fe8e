"""The dashboard's picture in the docs (docs/operations/dashboard.png, drawn by scripts/dashboard_picture.py from
the dashboard's own queries on a real Prometheus and webhook) shows the dashboard as it is now: the panel
titles written into the picture are the dashboard's, in its order. Change the dashboard, draw it again."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from tests.helpers import ROOT

PICTURE = ROOT / "docs" / "operations" / "dashboard.png"
DASHBOARD = ROOT / "manifests" / "observability" / "grafana-dashboard.json"


def _png_text(path: Path) -> dict[str, str]:
    """The PNG's tEXt chunks (keyword -> text)."""
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n"), path
    found, offset = {}, 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind, body = data[offset + 4 : offset + 8], data[offset + 8 : offset + 8 + length]
        if kind == b"tEXt":
            keyword, _, text = body.partition(b"\0")
            found[keyword.decode("latin-1")] = text.decode("latin-1")
        offset += 12 + length
    return found


def test_the_picture_shows_the_dashboards_panels() -> None:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    titles = [panel["title"] for panel in sorted(panels, key=lambda p: (p["gridPos"]["y"], p["gridPos"]["x"]))]
    assert json.loads(_png_text(PICTURE)["Description"]) == titles


def test_the_observability_page_shows_the_picture() -> None:
    assert "](dashboard.png)" in (ROOT / "docs" / "operations" / "observability.md").read_text()
