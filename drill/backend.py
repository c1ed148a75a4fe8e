"""The stand-in backend every replica's servers point at: a small HTTP/1.1 server (keep-alive, loopback only)
run as its own process so it never competes with the load generator for the interpreter.

A request whose query has `drill-stream=S` (any path) is answered with a chunked body, one chunk every
100 ms for S seconds (a long-lived request); anything else gets `200 ok` at once. Run: `python -m haproxy_guard.drill.backend` prints the port.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from urllib.parse import parse_qs, urlsplit

MAX_HEAD = 16 * 1024
MAX_STREAM_SECONDS = 600.0
CHUNK_INTERVAL = 0.1
STREAM_PARAMETER = "drill-stream"
_OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"


async def _respond(writer: asyncio.StreamWriter, target: str, close: bool) -> None:
    url = urlsplit(target)
    connection = b"Connection: close\r\n" if close else b""
    stream = parse_qs(url.query).get(STREAM_PARAMETER)
    if not stream:
        writer.write(_OK + connection + b"\r\nok")
        await writer.drain()
        return
    try:
        seconds = min(float(stream[0]), MAX_STREAM_SECONDS)
    except ValueError:
        seconds = 1.0
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n" + connection + b"\r\n"
    )
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        writer.write(b"2\r\nok\r\n")
        await writer.drain()
        await asyncio.sleep(CHUNK_INTERVAL)
    writer.write(b"0\r\n\r\n")
    await writer.drain()


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3:
                break
            headers = {line.partition(":")[0].strip().lower(): line.partition(":")[2].strip() for line in lines[1:]}
            length = headers.get("content-length", "0")
            if length.isdigit() and int(length):
                await reader.readexactly(int(length))
            close = headers.get("connection", "").lower() == "close" or parts[2] == "HTTP/1.0"
            await _respond(writer, parts[1], close)
            if close:
                break
    with contextlib.suppress(OSError):
        writer.close()


async def serve(port: int = 0) -> asyncio.Server:
    return await asyncio.start_server(_serve, "127.0.0.1", port, limit=MAX_HEAD, backlog=1024)


async def _main() -> None:
    server = await serve()
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the drill closes our stdin


if __name__ == "__main__":
    asyncio.run(_main())
