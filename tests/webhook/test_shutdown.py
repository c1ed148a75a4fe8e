"""`serve` stops on SIGTERM within its grace period with checks in flight (security issue 27, point 7): a
webhook running checks in process (no checker container) once ignored SIGTERM for over 10 s. Here every
validator slot is taken by a check that never finishes (a binary that spins until its time limit) and more
wait for a slot; the process must be gone well within the pod's grace period, leaving no check behind."""

from __future__ import annotations

import json
import shutil
import signal
import threading
import time
import uuid
from pathlib import Path

import httpx

from tests.conftest import start_server
from tests.haproxy.hostile import compile_payloads, processes_of, public_folder

GRACE_SECONDS = 10
"""Well within what is left of the manifests' 45 s after the 10 s preStop wait (checks may take 30 s)."""


def _review(text: str) -> dict[str, object]:
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"},
                 "data": {"haproxy.cfg": text}}  # fmt: skip
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
            "resource": {"group": "", "version": "v1", "resource": "configmaps"},
            "namespace": "n",
            "operation": "CREATE",
            "object": configmap,
        },
    }


def test_serve_stops_on_sigterm_with_checks_in_flight(cert_dir: Path, tmp_path: Path) -> None:
    folder = public_folder()
    try:
        _, spinning = compile_payloads(folder)
        settings = tmp_path / "settings.yaml"
        settings.write_text(f"validators:\n  '2.8': {spinning}\nvalidatorTimeoutSeconds: 25\nvalidatorConcurrency: 2\n")
        server = start_server(cert_dir, tmp_path / "server.log", ["--settings", str(settings)])
        statuses: list[int | str] = []

        def post(index: int) -> None:
            try:
                with server.client() as client:
                    body = json.dumps(_review(f"# check {index}\n"))
                    statuses.append(client.post("/validate", content=body, timeout=60).status_code)
            except httpx.HTTPError as error:
                statuses.append(type(error).__name__)

        threads = [threading.Thread(target=post, args=(index,)) for index in range(5)]
        for thread in threads:
            thread.start()
        time.sleep(2)  # two checks spin, three wait for a slot
        assert len(statuses) == 0
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(GRACE_SECONDS + 10)
        stopped = time.monotonic() - started
        for thread in threads:
            thread.join(30)
        assert stopped < GRACE_SECONDS, f"serve took {stopped:.1f}s to stop"
        assert len(statuses) == 5  # every client got an answer or a closed connection, none hangs
        deadline = time.monotonic() + 5
        while (left := processes_of(spinning)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert left == "", "a check survived the webhook"
    finally:
        shutil.rmtree(folder, ignore_errors=True)
