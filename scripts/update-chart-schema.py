"""Writes the settings part of charts/haproxy-guard/values.schema.json from the settings model, so that
`helm install` rejects the same settings keys, types, ranges and policy ids the webhook does.

Usage: python scripts/update-chart-schema.py          rewrite the file
       python scripts/update-chart-schema.py --check  exit 1 when the file is out of date
(tests/ship/test_chart.py runs the check.)"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from haproxy_guard.policies.settings_file import settings_json_schema

SCHEMA = Path(__file__).resolve().parent.parent / "charts" / "haproxy-guard" / "values.schema.json"


def updated(current: dict[str, Any]) -> dict[str, Any]:
    settings = settings_json_schema()
    definitions = settings.pop("$defs", {})
    settings.pop("$schema", None)
    result = {**current, "properties": {**current["properties"], "settings": settings}}
    result["$defs"] = definitions  # the settings' "#/$defs/..." references resolve from the document's root
    return result


def main(argv: list[str]) -> int:
    current = json.loads(SCHEMA.read_text(encoding="utf-8"))
    text = json.dumps(updated(current), indent=2) + "\n"
    if argv[1:] == ["--check"]:
        if SCHEMA.read_text(encoding="utf-8") != text:
            print(f"{SCHEMA} is out of date: run python scripts/update-chart-schema.py", file=sys.stderr)
            return 1
        return 0
    SCHEMA.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
