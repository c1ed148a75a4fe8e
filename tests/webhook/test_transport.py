"""One write per response (`webhook/transport.py`): a response's head and body reach TLS together, nothing is
held past the event loop's turn that wrote it, and a `100 Continue` still goes out before the body arrives."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import time
from contextlib import ExitStack
from typing import Any

from haproxy_guard.webhook.transport import CoalescingTransport
from tests.conftest import RunningServer
from tests.helpers import review


class _Recording:
    """The connection's transport as the proxy sees it: what reached it, in order."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.events: list[str] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        self.events.append("write")

    def close(self) -> None:
        self.events.append("close")

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 1)}.get(name, default)


def test_writes_of_one_turn_reach_the_transport_as_one() -> None:
    async def scenario() -> tuple[list[bytes], list[bytes], list[bytes]]:
        inner = _Recording()
        proxy = CoalescingTransport(inner, asyncio.get_running_loop())
        proxy.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        proxy.write(b"{}")
        held = list(inner.writes)
        proxy.flush()  # the protocol's on_response_complete
        flushed = list(inner.writes)
        proxy.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # nobody flushes: the end of the turn does
        await asyncio.sleep(0)
        return held, flushed, inner.writes[len(flushed) :]

    held, flushed, later = asyncio.run(scenario())
    assert held == []
    assert flushed == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    assert later == [b"HTTP/1.1 100 Continue\r\n\r\n"]


def test_close_sends_what_is_held_first_and_the_rest_passes_through() -> None:
    async def scenario() -> _Recording:
        inner = _Recording()
        proxy = CoalescingTransport(inner, asyncio.get_running_loop())
        proxy.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        assert proxy.get_extra_info("peername") == ("127.0.0.1", 1)
        assert proxy.is_closing() is False
        proxy.close()
        await asyncio.sleep(0)  # the turn's own flush finds nothing left
        return inner

    inner = asyncio.run(scenario())
    assert inner.events == ["write", "close"]
    assert inner.writes == [b"HTTP/1.1 400 Bad Request\r\n\r\n"]


def _tls(server: RunningServer, stack: ExitStack) -> ssl.SSLSocket:
    port = int(server.url.rsplit(":", 1)[1])
    raw = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=10))
    return stack.enter_context(
        ssl.create_default_context(cafile=server.ca).wrap_socket(raw, server_hostname="localhost")
    )


def _read_response(sock: ssl.SSLSocket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")).split(b":")[1]
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_the_server_answers_100_continue_before_the_body_and_then_in_one_piece(server: RunningServer) -> None:
    body = json.dumps(review({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}})).encode()
    head = (
        f"POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
    ).encode()
    with ExitStack() as stack:
        sock = _tls(server, stack)
        sock.sendall(head)
        started = time.monotonic()
        interim = sock.recv(4096)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), interim
        assert time.monotonic() - started < 1.0, "the interim answer waited for more than its own turn"
        sock.sendall(body)
        reply = _read_response(sock)
        assert reply.startswith(b"HTTP/1.1 200 OK"), reply[:200]
        assert json.loads(reply.partition(b"\r\n\r\n")[2])["response"]["allowed"] is True
        for _ in range(3):  # keep-alive: the next responses on the same connection arrive whole too
            sock.sendall(head.replace(b"Expect: 100-continue\r\n", b"") + body)
            assert _read_response(sock).startswith(b"HTTP/1.1 200 OK")
