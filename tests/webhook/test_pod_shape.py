"""The deployed shape, built by the test with the namespaces and cgroup a pod gives its containers (security
issue 27, "done when"): the webhook (`serve --checker-socket`) in this process's namespaces with its token,
serving key and environment; the checker (`haproxy-guard checker`) in its own mount and PID namespaces, where
the webhook's secret folder is not mounted (as the pod mounts the token into `webhook` only), inside a memory
cgroup of its own (the container's limit).

Code then runs inside a check (an OpenSSL provider shipped in the ConfigMap's `binaryData`, run because the
checker checks code-loading configurations for real) and reports, in its exit status, what it reached: the
token, the serving key, the webhook's process and environment must all be out of reach, and memory stops at
the checker's limit (the webhook keeps answering). No real node runs in this suite yet (issue 29): the
namespaces and cgroup are made here, as the container runtime would make them. Needs root and the cgroup v1
memory controller (this machine's kind); skipped with that reason elsewhere."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from haproxy_guard.certs.authority import generate
from tests.conftest import RunningServer, start_server, stop_server
from tests.haproxy.hostile import public_folder

PAYLOAD = Path(__file__).with_name("payloads") / "pod_probe.c"
MEMORY_ROOT = Path("/sys/fs/cgroup/memory")
CHECKER_LIMIT = 256 * 1024 * 1024
NOTHING_REACHED = 64

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not MEMORY_ROOT.is_dir(), reason="needs root and the cgroup v1 memory controller"
)


@dataclass
class Pod:
    folder: Path
    webhook: RunningServer
    checker: subprocess.Popen[bytes]
    cgroup: Path
    token: Path
    key: Path


def _listening(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as sock:
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


@pytest.fixture(scope="module")
def pod() -> Iterator[Pod]:
    folder = public_folder()
    secrets, sockets = folder / "webhook-only", folder / "sockets"
    (secrets / "certs").mkdir(parents=True)
    sockets.mkdir()
    generate(secrets / "certs", ["localhost", "127.0.0.1"])
    token = secrets / "token"
    token.write_text("eyJhbGciOiJSUzI1NiJ9.pod-shape-token")
    for path in (folder, secrets, secrets / "certs", *secrets.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)  # only the namespaces keep them out, not permissions
    cgroup = MEMORY_ROOT / f"haproxy-guard-checker-{uuid.uuid4().hex[:8]}"
    cgroup.mkdir()
    (cgroup / "memory.limit_in_bytes").write_text(str(CHECKER_LIMIT))
    socket_path = sockets / "checker.sock"
    # the checker container: its cgroup, then its own mount and PID namespaces, where the webhook's secrets
    # are not mounted (an empty tmpfs over them) and /proc shows only its own processes
    script = (
        f"echo $$ > {cgroup}/cgroup.procs && exec unshare --mount --propagation private --pid --fork --mount-proc "
        f'sh -c "mount -t tmpfs -o size=1m none {secrets} && exec {sys.executable} -m haproxy_guard.cli checker '
        f'--socket {socket_path}"'
    )
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": os.pathsep.join(sys.path)}
    checker = subprocess.Popen(["sh", "-c", script], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    webhook: RunningServer | None = None
    try:
        deadline = time.monotonic() + 60
        while not _listening(socket_path):
            assert checker.poll() is None and time.monotonic() < deadline, "the checker did not start"
            time.sleep(0.1)
        os.environ["HAPROXY_GUARD_POD_SECRET"] = "webhook-environment-secret"  # the webhook's environment
        webhook = start_server(secrets / "certs", folder / "webhook.log", ["--checker-socket", str(socket_path)])
        yield Pod(folder, webhook, checker, cgroup, token, secrets / "certs" / "tls.key")
    finally:
        os.environ.pop("HAPROXY_GUARD_POD_SECRET", None)
        if webhook is not None:
            stop_server(webhook)
        checker.send_signal(signal.SIGTERM)
        try:
            checker.wait(10)
        except subprocess.TimeoutExpired:
            checker.kill()
            checker.wait()
        for pid in (cgroup / "cgroup.procs").read_text().split():  # anything left in the container
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                cgroup.rmdir()
                break
            except OSError:
                time.sleep(0.1)
        shutil.rmtree(folder, ignore_errors=True)


def _payload(pod: Pod, memory_mb: int = 0) -> bytes:
    library = pod.folder / f"probe-{memory_mb}.so"
    defines = [f'-DTOKEN="{pod.token}"', f'-DKEY="{pod.key}"', f"-DWEBHOOK_PID={pod.webhook.process.pid}",
               f"-DMEMORY_MB={memory_mb}"]  # fmt: skip
    subprocess.run(["gcc", "-Wall", "-Werror", "-shared", "-fPIC", *defines, "-o", library, PAYLOAD], check=True)
    return library.read_bytes()


def _validate(pod: Pod, library: bytes, name: str) -> str:
    """The webhook's answer to a ConfigMap whose configuration loads `library` (shipped as binaryData)."""
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "attacker"},
        # a comment per name: each is a new configuration (the validator answers equal ones once)
        "data": {
            "haproxy.cfg": f"# {name}\nglobal\n  ssl-provider /usr/local/etc/haproxy/probe.so\ndefaults\n  mode http\n"
        },
        "binaryData": {"probe.so": base64.b64encode(library).decode()},
    }
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
            "resource": {"group": "", "version": "v1", "resource": "configmaps"},
            "namespace": "attacker",
            "operation": "CREATE",
            "object": configmap,
        },
    }
    with pod.webhook.client() as client:
        reply = client.post("/validate", content=json.dumps(review), timeout=60).json()["response"]
    return json.dumps(reply)


def test_code_in_a_check_reaches_nothing_of_the_webhook(pod: Pod) -> None:
    answer = _validate(pod, _payload(pod), "probe")
    assert f"stopped abnormally (exit {NOTHING_REACHED})" in answer, answer  # it ran, and reached nothing
    assert "pod-shape-token" not in answer and "webhook-environment-secret" not in answer


def test_memory_stops_at_the_checkers_limit_and_the_webhook_keeps_answering(pod: Pod) -> None:
    """Three checks touching 200 MiB each (under each check's own 1 GiB cap) against a 256 MiB container:
    the container's limit holds them all together; the webhook is never touched."""
    library = _payload(pod, memory_mb=200)
    with ThreadPoolExecutor(max_workers=3) as pool:
        answers = list(pool.map(lambda index: _validate(pod, library, f"memory-{index}"), range(3)))
    assert len(answers) == 3
    peak = int((pod.cgroup / "memory.max_usage_in_bytes").read_text())
    assert peak <= CHECKER_LIMIT, f"the checker's memory passed its limit: {peak}"
    assert int((pod.cgroup / "memory.failcnt").read_text()) > 0, "the limit was reached (the test pressed on it)"
    assert pod.webhook.process.poll() is None
    with pod.webhook.client() as client:
        assert client.get("/healthz").status_code == 200
    try:
        answer = _validate(pod, _payload(pod), "after")
    except httpx.HTTPError as error:  # pragma: no cover - reported as a failure with its reason
        pytest.fail(f"the webhook stopped answering: {error}")
    assert "exit 64" in answer or "not checked: the checker container is not answering" in answer, answer
