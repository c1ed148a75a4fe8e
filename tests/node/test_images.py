"""The node's HAProxy images hold everything their programs load: each layer, unpacked into a folder, runs
`haproxy -v` (of its branch), `sleep` and `sh` there with `chroot`, as the container runtime would run them."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.node.cluster import IMAGES
from tests.node.conftest import require_parts
from tests.node.images import HAPROXY_BRANCHES

pytestmark = [pytest.mark.node]


def _unpack(archive: Path, into: Path) -> dict[str, object]:
    with tarfile.open(archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))[0]  # type: ignore[arg-type]
        config = json.load(outer.extractfile(manifest["Config"]))  # type: ignore[arg-type]
        layer = outer.extractfile(manifest["Layers"][0])
        assert layer is not None
        with tarfile.open(fileobj=io.BytesIO(layer.read())) as inner:
            inner.extractall(into, filter="tar")
    return config["config"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("branch", HAPROXY_BRANCHES)
def test_an_haproxy_image_runs_its_branch_and_the_preStop_tools(branch: str, tmp_path: Path) -> None:
    require_parts()
    config = _unpack(IMAGES / f"haproxy-{branch}.tar", tmp_path)
    assert config["StopSignal"] == "SIGUSR1"
    version = subprocess.run(
        ["chroot", str(tmp_path), "/usr/sbin/haproxy", "-v"], capture_output=True, text=True, check=False
    )
    assert version.returncode == 0, version.stderr
    assert f"version {branch}." in version.stdout
    for tool in (["/bin/sleep", "0"], ["/bin/sh", "-c", "exit 0"]):
        done = subprocess.run(["chroot", str(tmp_path), *tool], capture_output=True, text=True, check=False)
        assert done.returncode == 0, (tool, done.stderr)
