"""What a replica lets callers hold, against the real server process over TLS: request heads that do not
finish are cut at `headerTimeoutSeconds` (hundreds at once, TLS finished or not), bodies in flight past the
replica's budget get 503 with Retry-After without being read, and the server keeps answering meanwhile."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from haproxy_guard.webhook.limits import MIB, BodyBudget, default_budget
from tests.conftest import RunningServer, start_server, stop_server
from tests.helpers import GOLDEN, load_yaml, review

GOOD = review(load_yaml(GOLDEN / "prestop-wait" / "missing-exec" / "input.yaml"))


def _server(cert_dir: Path, tmp_path: Path, settings: str) -> Iterator[RunningServer]:
    path = tmp_path / "settings.yaml"
    path.write_text(settings)
    running = start_server(cert_dir, tmp_path / "log", ["--settings", str(path)])
    try:
        yield running
    finally:
        stop_server(running)


@pytest.fixture
def impatient(cert_dir: Path, tmp_path: Path) -> Iterator[RunningServer]:
    yield from _server(cert_dir, tmp_path, "headerTimeoutSeconds: 1\nmaxInFlightBodyBytes: 1048576\n")


def _tls(server: RunningServer, stack: ExitStack) -> ssl.SSLSocket:
    port = int(server.url.rsplit(":", 1)[1])
    raw = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=10))
    context = ssl.create_default_context(cafile=server.ca)
    return stack.enter_context(context.wrap_socket(raw, server_hostname="localhost"))


def _closed(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    except (ConnectionError, ssl.SSLError):
        return True
    return True


@pytest.mark.slow
def test_unfinished_heads_are_cut_and_others_still_served(impatient: RunningServer) -> None:
    with ExitStack() as stack:
        stalled = [_tls(impatient, stack) for _ in range(200)]
        for index, sock in enumerate(stalled):
            sock.sendall(b"POST /mutate HTTP/1.1\r\nHost: localhost\r\n" if index % 2 else b"PO")
        with impatient.client() as client:
            assert client.post("/mutate", json=GOOD).status_code == 200
        started = time.monotonic()
        assert all(_closed(sock, within=5) for sock in stalled)
        assert time.monotonic() - started < 5, "cut at about the 1 s head timeout"
    with impatient.client() as client:
        assert client.post("/mutate", json=GOOD).status_code == 200


@pytest.mark.slow
def test_a_second_head_on_a_kept_alive_connection_is_timed_too(impatient: RunningServer) -> None:
    body = json.dumps(GOOD).encode()
    with ExitStack() as stack:
        sock = _tls(impatient, stack)
        head = f"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        sock.sendall(head.encode() + body)
        sock.settimeout(5)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        sock.sendall(b"POST /mutate HTTP/1.1\r\nHost: loc")
        assert _closed(sock, within=5)


@pytest.mark.slow
def test_bodies_past_the_budget_get_503_with_retry_after(impatient: RunningServer) -> None:
    """Two uploads of 600 KB stalled halfway hold 600 KB of a 1 MiB budget; a third is refused before more of
    it is read, and once the stalled ones end the budget is whole again."""
    with ExitStack() as stack:
        holders = []
        for _ in range(2):
            sock = _tls(impatient, stack)
            sock.sendall(b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Length: 600000\r\n\r\n" + b" " * 300_000)
            holders.append(sock)
        time.sleep(0.5)
        third = _tls(impatient, stack)
        third.sendall(b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Length: 600000\r\n\r\n" + b" " * 500_000)
        third.settimeout(5)
        reply = third.recv(65536)
        assert reply.startswith(b"HTTP/1.1 503"), reply
        assert b"retry-after: 1" in reply.lower()
        with impatient.client() as client:
            assert client.post("/mutate", json=GOOD).status_code == 200, "small reviews still fit"
    time.sleep(1)
    with impatient.client() as client:
        big = dict(GOOD)
        big["request"] = {**GOOD["request"], "padding": "x" * 900_000}
        assert client.post("/mutate", json=big).status_code == 200, "the stalled bodies gave their bytes back"


def test_the_default_budget_follows_the_memory_limit(tmp_path: Path) -> None:
    limit = tmp_path / "memory.max"
    limit.write_text("536870912\n")  # 512 MiB: the manifests' limit
    assert default_budget(limit) == 64 * MIB
    limit.write_text("max\n")
    assert default_budget(limit) == 64 * MIB
    limit.write_text(str(8 * 1024 * MIB))
    assert default_budget(limit) == 256 * MIB
    assert default_budget(tmp_path / "absent") == 64 * MIB
    budget = BodyBudget(10)
    assert budget.take(6) and not budget.take(5) and budget.in_flight == 6
    budget.give_back(6)
    assert budget.take(10)


def _rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")) / 1024


@pytest.mark.slow
def test_memory_returns_after_a_burst_of_large_bodies(cert_dir: Path, tmp_path: Path) -> None:
    """40 connections start 4 MB bodies and stall, then leave: the peak is bounded by the budget, and
    within seconds the replica is back within 10 % of its memory before the burst."""
    for running in _server(cert_dir, tmp_path, "maxInFlightBodyBytes: 67108864\n"):
        with running.client() as client:
            for _ in range(20):
                assert client.post("/mutate", json=GOOD).status_code == 200
        before = _rss_mib(running.process.pid)
        with ExitStack() as stack:
            for _ in range(40):
                sock = _tls(running, stack)
                sock.sendall(b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4000000\r\n\r\n")
                with contextlib.suppress(OSError):
                    sock.sendall(b" " * 2_000_000)
            time.sleep(1)
            peak = _rss_mib(running.process.pid)
        time.sleep(4)
        after = _rss_mib(running.process.pid)
        assert peak - before < 64 + 48, f"the budget bounds the peak: {before:.0f} -> {peak:.0f} MiB"
        assert after <= before * 1.10, f"{before:.0f} MiB before, {peak:.0f} at the peak, {after:.0f} after"


@pytest.mark.slow
def test_unfinished_tls_handshakes_do_not_stop_service(impatient: RunningServer) -> None:
    """200 connections that never start TLS (asyncio drops them after its 60 s handshake timeout) take no
    request slot: the replica keeps answering."""
    port = int(impatient.url.rsplit(":", 1)[1])
    with ExitStack() as stack:
        for _ in range(200):
            stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=10)).sendall(b"\x16\x03")
        started = time.monotonic()
        with impatient.client() as client:
            for _ in range(5):
                assert client.post("/mutate", json=GOOD).status_code == 200
        assert time.monotonic() - started < 5


@pytest.mark.slow
def test_connections_past_max_connections_get_503(cert_dir: Path, tmp_path: Path) -> None:
    body = json.dumps(GOOD).encode()
    head = f"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    for running in _server(cert_dir, tmp_path, "maxConnections: 4\n"):
        with ExitStack() as stack:
            held = [_tls(running, stack) for _ in range(3)]
            for sock in held:  # kept alive after one answered request each; with its own, a 4th reaches the cap
                sock.sendall(head.encode() + body)
                sock.settimeout(5)
                assert sock.recv(65536).startswith(b"HTTP/1.1 200")
            extra = _tls(running, stack)
            extra.sendall(head.encode() + body)
            extra.settimeout(5)
            assert extra.recv(65536).startswith(b"HTTP/1.1 503")
        with running.client() as client:
            assert client.post("/mutate", json=GOOD).status_code == 200, "served again once they left"
