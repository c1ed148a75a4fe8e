"""`make run`: serve the webhook locally over TLS and show what it does to a sample HAProxy Deployment.

Generates development certificates in .dev/certs (once), starts `haproxy-guard serve`, sends the sample
to /mutate and /validate with a client that verifies the generated CA, applies the returned JSON patch
with the `jsonpatch` library and prints the object before and after.
"""

from __future__ import annotations

import argparse
import base64
import difflib
import json
import signal
import ssl
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jsonpatch
import yaml

ROOT = Path(__file__).resolve().parent.parent
CERTS = ROOT / ".dev" / "certs"
SAMPLE = ROOT / "examples" / "haproxy-deployment.yaml"


def review(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": {"group": "apps", "version": "v1", "kind": obj["kind"]},
            "namespace": obj["metadata"].get("namespace", "default"),
            "operation": "CREATE",
            "object": obj,
        },
    }


def wait_until_serving(client: httpx.Client, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"the webhook exited with code {process.returncode}")
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    sys.exit("the webhook did not become ready within 30 s")


def show(client: httpx.Client) -> None:
    original = yaml.safe_load(SAMPLE.read_text())
    mutated_reply = client.post("/mutate", json=review(original)).json()["response"]
    patch = json.loads(base64.b64decode(mutated_reply["patch"])) if "patch" in mutated_reply else []
    mutated = jsonpatch.JsonPatch(patch).apply(original, in_place=False)
    before = yaml.safe_dump(original, sort_keys=False).splitlines(keepends=True)
    after = yaml.safe_dump(mutated, sort_keys=False).splitlines(keepends=True)
    print(f"=== before: {SAMPLE.relative_to(ROOT)} ===")
    print("".join(before))
    print(f"=== /mutate returned {len(patch)} JSON patch operations; after (diff) ===")
    print("".join(difflib.unified_diff(before, after, "before.yaml", "after.yaml")))
    for label, obj in (("the sample as written", original), ("the mutated sample", mutated)):
        verdict = client.post("/validate", json=review(obj)).json()["response"]
        allowed = "allowed" if verdict["allowed"] else "DENIED"
        print(f"=== /validate on {label}: {allowed} ===")
        if not verdict["allowed"]:
            print(verdict["status"]["message"])
        for warning in verdict.get("warnings", []):
            print(f"warning: {warning}")
        print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--once", action="store_true", help="stop the webhook after the demonstration")
    parser.add_argument("--cert-dir", type=Path, default=CERTS, help="where the dev certificates live")
    args = parser.parse_args()
    certs: Path = args.cert_dir
    if not (certs / "tls.crt").exists():
        subprocess.run(
            [sys.executable, "-m", "haproxy_guard.cli.main", "certs", "generate", "--out", str(certs)], check=True
        )
    command = [
        sys.executable,
        "-m",
        "haproxy_guard.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(args.port),
        "--cert-dir",
        str(certs),
        "--metrics-port",
        "0",  # locally, /metrics on the HTTPS port: 9090 is often taken (by Prometheus itself)
    ]
    process = subprocess.Popen(command)
    try:
        context = ssl.create_default_context(cafile=certs / "ca.crt")
        with httpx.Client(base_url=f"https://localhost:{args.port}", verify=context, timeout=10) as client:
            wait_until_serving(client, process)
            show(client)
        if args.once:
            return 0
        print(f"serving https://localhost:{args.port} (CA: {certs / 'ca.crt'}); Ctrl-C to stop")
        return process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(10)


if __name__ == "__main__":
    sys.exit(main())
