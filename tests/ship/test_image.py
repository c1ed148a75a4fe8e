"""The image is really built (debootstrap base + buildah, no registry) and run: it serves a real
AdmissionReview over TLS, as a non-root user, with both HAProxy validators working."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from certs.authority import generate
from tests.conftest import free_port
from tests.helpers import GOLDEN, ROOT, decoded_patch, load_yaml, review

TAG = "localhost/haproxy-guard:test"
ENV = {**os.environ, "STORAGE_DRIVER": os.environ.get("STORAGE_DRIVER", "vfs")}
pytestmark = pytest.mark.image


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def image() -> str:
    result = subprocess.run(
        [str(ROOT / "scripts" / "build-image.sh"), TAG],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=ROOT,
        timeout=3000,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return TAG


@pytest.fixture(scope="module")
def running(image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    certs = tmp_path_factory.mktemp("image-certs")
    generate(certs, ["localhost", "127.0.0.1"])
    for path in certs.iterdir():
        path.chmod(0o644)  # a throw-away test key, readable by the image's non-root user
    certs.chmod(0o755)
    container = f"hg-image-test-{os.getpid()}"
    subprocess.run(["buildah", "rm", container], capture_output=True, env=ENV, check=False)
    subprocess.run(["buildah", "from", "--name", container, image], capture_output=True, env=ENV, check=True)
    port = free_port()
    log_path = tmp_path_factory.mktemp("image-log") / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["buildah", "run", "--isolation", "chroot", "--network", "host", "-v", f"{certs}:/etc/haproxy-guard/certs:ro",
             container, "--", "haproxy-guard", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--cert-dir", "/etc/haproxy-guard/certs"],
            stdout=log, stderr=subprocess.STDOUT, env=ENV,
        )  # fmt: skip
    url = f"https://localhost:{port}"
    context = ssl.create_default_context(cafile=certs / "ca.crt")
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/healthz", verify=context, timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, (
            f"the image did not serve: {log_path.read_text()}"
        )
        time.sleep(0.3)
    yield url, certs
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
    subprocess.run(["pkill", "-f", "--", f"--port {port}"], capture_output=True, check=False)
    subprocess.run(["buildah", "rm", container], capture_output=True, env=ENV, check=False)


def test_the_image_serves_a_real_review(running: tuple[str, Path]) -> None:
    url, certs = running
    with httpx.Client(base_url=url, verify=ssl.create_default_context(cafile=certs / "ca.crt"), timeout=10) as client:
        assert client.get("/readyz").status_code == 200, "certificate loaded and both validators run"
        response = client.post(
            "/mutate", json=review(load_yaml(GOLDEN / "prestop-wait" / "missing-exec" / "input.yaml"), uid="image-1")
        ).json()["response"]
        assert response["uid"] == "image-1" and decoded_patch(response)
        for version, allowed in (("2.6", False), ("2.8", True)):
            configmap = load_yaml(GOLDEN / "haproxy-config-valid" / "version-annotation-2.6" / "input.yaml")
            configmap["metadata"]["annotations"]["haproxy-guard.io/haproxy-version"] = version
            verdict = client.post("/validate", json=review(configmap)).json()["response"]
            assert verdict["allowed"] is allowed, (version, verdict)


def test_the_image_runs_as_non_root(image: str) -> None:
    inspect = subprocess.run(
        ["buildah", "inspect", "--format", "{{.OCIv1.Config.User}}", image],
        capture_output=True,
        text=True,
        env=ENV,
        check=True,
    )
    assert inspect.stdout.strip() == "65532:65532"
