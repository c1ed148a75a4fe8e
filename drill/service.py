"""The Service hop in front of the replicas, standing in for kube-proxy or a cloud load balancer (layer 4).

A new connection goes to the next endpoint of the *current* set (round robin); an established one stays
with its endpoint until either side closes it, as conntrack keeps it. An endpoint leaves the set when the
drill says so (the kubelet's deletion plus the endpoint lag, see `kubelet`), not when its process stops
listening: that gap is what loses connections. A connection whose endpoint refuses it is reset towards the
client and remembered as *refused* (by the client's port), so the load generator can count it as such.
About 0.3 s after the pod exits while its endpoint is still listed (`unreachable`), its network is gone (the kubelet
tears the pod sandbox down after its containers stop): kube-proxy still sends new connections to an address
nothing answers, so they get no answer at all and the client times out, as measured on a real node
(tests/node). Half-closes and resets are passed through in both directions.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import struct
from dataclasses import dataclass, field

CHUNK = 64 * 1024


@dataclass
class Endpoint:
    name: str
    port: int


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a RST, as a proxy does when the other side reset or refused."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, other: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                if writer.can_write_eof():
                    with contextlib.suppress(OSError):
                        writer.write_eof()
                return
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        _reset(writer)
        _reset(other)


@dataclass
class Service:
    endpoints: list[Endpoint] = field(default_factory=list)
    refused_clients: dict[int, float] = field(default_factory=dict)
    """Client port -> when (loop time) its connection reached an endpoint that refused it (or none was left)."""
    unreachable: set[str] = field(default_factory=set)
    """Endpoints whose pod exited while still listed: connections to them get no answer."""
    connections: int = 0
    port: int = 0
    _server: asyncio.Server | None = None
    _turn: itertools.count[int] = field(default_factory=itertools.count)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0, backlog=4096)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    def add(self, endpoint: Endpoint) -> None:
        if endpoint not in self.endpoints:
            self.endpoints.append(endpoint)

    def remove(self, name: str) -> None:
        self.endpoints = [endpoint for endpoint in self.endpoints if endpoint.name != name]

    def _choose(self) -> Endpoint | None:
        current = list(self.endpoints)
        return current[next(self._turn) % len(current)] if current else None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        client_port = writer.get_extra_info("peername")[1]
        endpoint = self._choose()
        if endpoint is not None and endpoint.name in self.unreachable:
            await self._unanswered(reader, writer)
            return
        try:
            if endpoint is None:
                raise ConnectionRefusedError
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", endpoint.port)
        except OSError:
            self.refused_clients[client_port] = asyncio.get_running_loop().time()
            _reset(writer)
            return
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await asyncio.gather(
                _pipe(reader, upstream_writer, writer), _pipe(upstream_reader, writer, upstream_writer)
            )
        finally:
            for side in (writer, upstream_writer):
                with contextlib.suppress(OSError):
                    side.close()
            if task is not None:
                self._tasks.discard(task)

    async def _unanswered(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Hold a connection to a vanished pod without answering, until the client gives up."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while await reader.read(CHUNK):
                pass
        except (ConnectionError, OSError):
            pass
        finally:
            _reset(writer)
            if task is not None:
                self._tasks.discard(task)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
