"""Fixtures shared by the webhook suites: a server reading its certificate from a kubelet-style Secret."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from haproxy_guard.certs.authority import generate
from tests.conftest import RunningServer, start_server, stop_server


def mounted_secret(root: Path, version: str) -> None:
    """Lay out certificates the way the kubelet mounts a Secret: files behind a swapped `..data` link."""
    generate(root / version, ["localhost", "127.0.0.1"])
    link = root / "..data_tmp"
    link.symlink_to(version)
    link.replace(root / "..data")
    for name in ("ca.crt", "tls.crt", "tls.key"):
        if not (root / name).is_symlink():
            (root / name).symlink_to(Path("..data") / name)


@pytest.fixture
def rotating_server(tmp_path: Path) -> Iterator[RunningServer]:
    secret = tmp_path / "secret"
    secret.mkdir()
    mounted_secret(secret, "..v1")
    running = start_server(secret, tmp_path / "server.log", ["--cert-poll-seconds", "0.2"])
    yield running
    stop_server(running)
