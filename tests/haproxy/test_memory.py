"""The memory estimate against HAProxy's own arithmetic: the maxconn that `haproxy -m <MB>` derives.

HAProxy is really started (foreground, loopback, a stats socket in a temporary folder) with `-m 256` and
no `maxconn`, and `show info` gives the maxconn it derived from the memory limit. Recorded here (2.6.12
and 2.8.25, this machine): see RECORDED. The estimate's per-connection cost must stay within 10 % of it.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from haproxy_guard.policies.haproxy.facts import facts_from_text
from haproxy_guard.policies.haproxy.memory import estimate, maxconn_for_memory
from haproxy_guard.policies.haproxy.stubs import certificate_pem
from haproxy_guard.policies.haproxy.validator import Validator
from tests.conftest import free_port

MEGABYTES = 256
CONFIGS = {
    "plain": "",
    "ssl-frontend": " ssl crt {cert}",
    "bufsize-32k": "",
}
RECORDED = {  # what HAProxy derived with -m 256 when this test was written
    ("2.6", "plain"): 7300, ("2.6", "ssl-frontend"): 1900, ("2.6", "bufsize-32k"): 3800,
    ("2.8", "plain"): 7300, ("2.8", "ssl-frontend"): 1900, ("2.8", "bufsize-32k"): 3800,
}  # fmt: skip


def _config(kind: str, folder: Path, port: int) -> str:
    cert = folder / "site.pem"
    cert.write_bytes(certificate_pem())
    tune = "  tune.bufsize 32768\n" if kind == "bufsize-32k" else ""
    bind = CONFIGS[kind].format(cert=cert)
    return (
        f"global\n  stats socket {folder}/stats.sock mode 600 level admin\n{tune}"
        "defaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 1s\n"
        f"frontend fe\n  bind 127.0.0.1:{port}{bind}\n  default_backend app\n"
        "backend app\n  server a 127.0.0.1:9\n"
    )


def _derived_maxconn(binary: str, config: Path, sock: Path) -> int:
    process = subprocess.Popen(
        [binary, "-db", "-m", str(MEGABYTES), "-f", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={},
    )
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            assert time.monotonic() < deadline, "haproxy did not start"
            time.sleep(0.05)
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(str(sock))
            client.sendall(b"show info\n")
            data = b""
            while chunk := client.recv(65536):
                data += chunk
        info = dict(line.split(": ", 1) for line in data.decode().splitlines() if ": " in line)
        return int(info["Maxconn"])
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.parametrize("kind", list(CONFIGS))
@pytest.mark.parametrize("version", ["2.6", "2.8"])
def test_estimate_matches_haproxy_memory_arithmetic(
    validator: Validator, tmp_path: Path, version: str, kind: str
) -> None:
    text = _config(kind, tmp_path, free_port())
    (tmp_path / "haproxy.cfg").write_text(text)
    derived = _derived_maxconn(validator.binaries[version], tmp_path / "haproxy.cfg", tmp_path / "stats.sock")
    assert derived == RECORDED[(version, kind)], f"HAProxy {version} now derives {derived}"
    ours = maxconn_for_memory(facts_from_text(text), MEGABYTES)
    assert abs(ours - derived) / derived < 0.10, f"estimate {ours} vs HAProxy {derived}"


def test_memory_limit_estimate_formula() -> None:
    facts = facts_from_text("global\n  maxconn 4000\n")
    needed = estimate(facts, base_mib=24, reload_factor=1)
    assert needed is not None
    assert needed.per_connection == 2 * 16384 + 4 * 1024
    assert needed.bytes_needed == int((24 * 2**20 + 4000 * needed.per_connection) / 0.97)
    doubled = estimate(facts, base_mib=24, reload_factor=2)
    assert doubled is not None and doubled.bytes_needed == int(2 * (24 * 2**20 + 4000 * needed.per_connection) / 0.97)
    assert estimate(facts_from_text("global\n  nbthread 2\n")) is None, "no estimate without maxconn"
