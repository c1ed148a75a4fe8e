"""Processes the drill starts: the whole group goes on SIGKILL, a group whose leader was already reaped is
never signalled (its number may name someone else's group by then), and the probes read as the kubelet's."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from haproxy_guard.drill import replica
from haproxy_guard.drill.plan import Probe


def test_sigkill_reaches_the_whole_group_while_the_leader_lives(tmp_path: Path) -> None:
    async def body() -> None:
        process = await replica.start_process(
            ["/bin/sh", "-c", "sleep 30 & echo $! > child; wait"], tmp_path, {}, "log"
        )
        for _ in range(100):
            if (tmp_path / "child").exists() and (tmp_path / "child").read_text().strip():
                break
            await asyncio.sleep(0.02)
        child = int((tmp_path / "child").read_text())
        replica.kill_group(process)
        await process.wait()
        for _ in range(100):
            if not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]:
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("the background child survived its group's SIGKILL")

    asyncio.run(body())


def test_a_reaped_leader_is_never_signalled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def body() -> None:
        process = await replica.start_process(["/bin/true"], tmp_path, {}, "log")
        await process.wait()
        sent: list[int] = []
        monkeypatch.setattr(os, "killpg", lambda pgid, sig: sent.append(pgid))
        replica.kill_group(process)
        assert sent == []

    asyncio.run(body())


@pytest.mark.parametrize(
    ("probe", "answer", "ready"),
    [
        (Probe("http", 0, "/ready"), b"HTTP/1.1 200 OK\r\n\r\n", True),
        (Probe("http", 0, "/ready"), b"HTTP/1.1 302 Found\r\n\r\n", True),
        (Probe("http", 0, "/ready"), b"HTTP/1.1 503 Service Unavailable\r\n\r\n", False),
        (Probe("tcp", 0), b"", True),
        (Probe("none"), b"", True),
        (Probe("exec"), b"", True),
    ],
)
def test_probes_as_the_kubelet_reads_them(probe: Probe, answer: bytes, ready: bool) -> None:
    async def body() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n") if probe.kind == "http" else None
            writer.write(answer)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        assert await replica.probe_once(probe, port if probe.kind in {"http", "tcp"} else None) is ready
        server.close()

    asyncio.run(body())


def test_a_probe_of_a_closed_port_fails() -> None:
    from haproxy_guard.drill.adapt import free_ports

    assert asyncio.run(replica.probe_once(Probe("tcp", 0, timeout=0.5), free_ports(1)[0])) is False
