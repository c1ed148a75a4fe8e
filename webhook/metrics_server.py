"""`/metrics` on its own plain-HTTP port (Prometheus' habit), apart from the webhook's HTTPS port: the
webhook port can then be opened to the API server alone, the metrics port to the monitoring namespace
alone (see the NetworkPolicy in manifests/base).

A minimal HTTP/1.0 responder on asyncio streams: `GET /metrics` is answered, anything else 404/405, one
request per connection; heads must arrive within `HEAD_TIMEOUT` and hold at most `MAX_HEAD` bytes, and at
most `MAX_CONNECTIONS` are served at once (others wait in the kernel's backlog), so it stays bounded.
"""

from __future__ import annotations

import asyncio
import contextlib

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from haproxy_guard.webhook.observability import Metrics

HEAD_TIMEOUT = 5.0
MAX_HEAD = 8192
MAX_CONNECTIONS = 16


def _reply(status: str, body: bytes, content_type: str = "text/plain; charset=utf-8") -> bytes:
    head = (
        f"HTTP/1.0 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


async def _handle(metrics: Metrics, slots: asyncio.Semaphore, reader: asyncio.StreamReader,
                  writer: asyncio.StreamWriter) -> None:  # fmt: skip
    async with slots:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT)
            method, _, rest = head.partition(b" ")
            path = rest.split(b" ", 1)[0].split(b"?", 1)[0]
            if path != b"/metrics":
                writer.write(_reply("404 Not Found", b"not found: only /metrics is served here\n"))
            elif method not in {b"GET", b"HEAD"}:
                writer.write(_reply("405 Method Not Allowed", b"use GET\n"))
            else:
                body = generate_latest(metrics.registry)
                writer.write(_reply("200 OK", b"" if method == b"HEAD" else body, CONTENT_TYPE_LATEST))
            await asyncio.wait_for(writer.drain(), HEAD_TIMEOUT)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def start_metrics_server(metrics: Metrics, host: str, port: int) -> asyncio.Server:
    slots = asyncio.Semaphore(MAX_CONNECTIONS)
    return await asyncio.start_server(
        lambda reader, writer: _handle(metrics, slots, reader, writer), host, port, limit=MAX_HEAD
    )
