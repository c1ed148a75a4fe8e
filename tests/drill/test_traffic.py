"""The stand-in backend, the Service hop and the load generator on real loopback sockets: round robin over
the current endpoints, established connections kept when an endpoint leaves, a refused endpoint counted as
refused, a keep-alive connection closed while idle replaced without a failure, one closed under a request
counted as a reset, and long requests streamed end to end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from haproxy_guard.drill import backend
from haproxy_guard.drill.adapt import free_ports
from haproxy_guard.drill.load import Load, LoadShape
from haproxy_guard.drill.service import Endpoint, Service


def _run(body: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(body(), 30))


async def _get(port: int, target: str = "/") -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    data = await reader.read()
    writer.close()
    return int(data.split(b" ")[1]), data


def test_backend_answers_and_streams() -> None:
    async def body() -> None:
        server = await backend.serve()
        port = server.sockets[0].getsockname()[1]
        status, data = await _get(port)
        assert status == 200 and data.endswith(b"ok")
        started = time.monotonic()
        status, data = await _get(port, "/api?x=1&drill-stream=0.35")
        assert status == 200 and b"Transfer-Encoding: chunked" in data and data.endswith(b"0\r\n\r\n")
        assert time.monotonic() - started >= 0.3
        server.close()

    _run(body)


def test_round_robin_over_the_current_endpoints_and_established_connections_stay() -> None:
    async def body() -> None:
        seen: list[str] = []

        def named(name: str) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
            async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                while line := await reader.readline():
                    seen.append(name)
                    writer.write(line)
                writer.close()

            return handle

        servers = [await asyncio.start_server(named(name), "127.0.0.1", 0) for name in ("a", "b")]
        service = Service(
            [Endpoint(name, s.sockets[0].getsockname()[1]) for name, s in zip("ab", servers, strict=True)]
        )
        port = await service.start()
        connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(4)]
        for reader, writer in connections:
            writer.write(b"hello\n")
            assert await reader.readline() == b"hello\n"
        assert sorted(seen) == ["a", "a", "b", "b"]
        service.remove("a")
        seen.clear()
        for reader, writer in connections:  # established ones keep their endpoint, as conntrack does
            writer.write(b"again\n")
            assert await reader.readline() == b"again\n"
        assert sorted(seen) == ["a", "a", "b", "b"]
        seen.clear()
        for _ in range(3):  # new ones only reach the endpoints left
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"new\n")
            assert await reader.readline() == b"new\n"
            writer.close()
        assert seen == ["b", "b", "b"]
        for _, writer in connections:
            writer.close()
        await service.close()
        for server in servers:
            server.close()

    _run(body)


def test_an_endpoint_that_refuses_is_counted_as_refused_and_a_working_one_as_answered() -> None:
    async def body() -> None:
        server = await backend.serve()
        dead = free_ports(1)[0]
        service = Service([Endpoint("dead", dead), Endpoint("live", server.sockets[0].getsockname()[1])])
        port = await service.start()
        load = Load(port, LoadShape(), lambda client, since: service.refused_clients.get(client, -1.0) >= since)
        answers = [await load.answer() for _ in range(4)]
        assert sorted(map(str, answers)) == ["200", "200", "refused", "refused"]
        service.remove("live")
        service.remove("dead")
        assert await load.answer() == "refused", "no endpoint left: refused, as kube-proxy rejects"
        await service.close()
        server.close()

    _run(body)


def test_an_endpoint_whose_pod_exited_while_listed_answers_nothing_and_the_client_times_out() -> None:
    """The kubelet tears the pod's network down once its containers stop; kube-proxy still sends connections there
    until the endpoint leaves: no refusal, no answer (measured on the node: tests/node/test_rollouts.py)."""

    async def body() -> None:
        server = await backend.serve()
        service = Service([Endpoint("gone", free_ports(1)[0]), Endpoint("live", server.sockets[0].getsockname()[1])])
        service.unreachable.add("gone")
        port = await service.start()
        load = Load(
            port, LoadShape(timeout=0.5), lambda client, since: service.refused_clients.get(client, -1.0) >= since
        )
        answers = [await load.answer() for _ in range(4)]
        assert sorted(map(str, answers)) == ["200", "200", "timeout", "timeout"]
        assert not service.refused_clients
        await service.close()
        server.close()

    _run(body)


def _closing_server(
    close_idle_after: float | None, drop_request: bool
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """A server that closes a keep-alive connection while it is idle, or on the request it reads."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        if drop_request:
            writer.close()
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        if close_idle_after is not None:
            await asyncio.sleep(close_idle_after)
        writer.close()

    return handle


def test_a_connection_closed_while_idle_is_replaced_without_failure() -> None:
    async def body() -> None:
        server = await asyncio.start_server(_closing_server(0.0, drop_request=False), "127.0.0.1", 0)
        load = Load(
            server.sockets[0].getsockname()[1],
            LoadShape(rate=20, keepalive_clients=2, new_connection_share=0),
            lambda *_: False,
        )
        load.start()
        await asyncio.sleep(1.0)
        recorder = await load.stop()
        assert len(recorder.outcomes) >= 10
        assert recorder.failures() == {"refused": 0, "reset": 0, "timeout": 0, "status_5xx": 0}
        server.close()

    _run(body)


def test_a_connection_closed_under_a_request_is_a_reset() -> None:
    async def body() -> None:
        server = await asyncio.start_server(_closing_server(None, drop_request=True), "127.0.0.1", 0)
        load = Load(
            server.sockets[0].getsockname()[1],
            LoadShape(rate=10, keepalive_clients=1, new_connection_share=0),
            lambda *_: False,
        )
        load.start()
        await asyncio.sleep(0.5)
        recorder = await load.stop()
        assert recorder.outcomes and all(outcome.kind == "reset" for outcome in recorder.outcomes)
        server.close()

    _run(body)


def test_load_rate_is_bounded_and_5xx_are_counted() -> None:
    async def body() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        load = Load(
            server.sockets[0].getsockname()[1],
            LoadShape(rate=100, keepalive_clients=4, new_connection_share=0),
            lambda *_: False,
        )
        load.start()
        await asyncio.sleep(1.0)
        recorder = await load.stop()
        assert 70 <= len(recorder.outcomes) <= 130
        assert recorder.failures()["status_5xx"] == len(recorder.outcomes)
        assert recorder.p99_ms() > 0
        server.close()

    _run(body)
