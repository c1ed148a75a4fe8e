"""The load generator: HTTP/1.1 clients on loopback, at a bounded rate, for as long as the drill says.

- *Keep-alive clients* reuse one connection each, like a connection pool: a connection the server closed
  while it was idle is noticed before reuse (as Go's and most pools' background reader does) and replaced;
  a request written on a connection that closes before its answer is a failure (no retry), which is the
  keep-alive race the drill measures.
- *New-connection clients* open a connection per request (`Connection: close`).
- *Stream clients* hold long requests (`?drill-stream=S`, see `backend`) end to end: a stream cut short is a failure.

Failures by kind: `refused` (the connection reached no listening endpoint), `reset` (closed or reset before
the whole answer), `timeout` (no whole answer within the request timeout), `status_5xx`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from haproxy_guard.drill.backend import STREAM_PARAMETER

KINDS = ("refused", "reset", "timeout", "status_5xx")
MAX_HEAD = 16 * 1024


@dataclass(frozen=True)
class LoadShape:
    rate: float = 300.0
    """Requests per second over all short-request clients."""
    keepalive_clients: int = 16
    new_connection_share: float = 0.2
    """Share of the rate sent on a new connection each."""
    timeout: float = 5.0
    stream_clients: int = 0
    stream_seconds: float = 0.0
    host: str = "drill.local"
    """The `Host` header (a configuration routing by host needs one of its names)."""
    path: str = "/"


@dataclass(frozen=True, slots=True)
class Outcome:
    start: float
    """Seconds since the load started."""
    seconds: float
    kind: str
    """"ok" or one of `KINDS`."""
    stream: bool = False


@dataclass
class Recorder:
    outcomes: list[Outcome] = field(default_factory=list)

    def failures(self) -> dict[str, int]:
        counts = dict.fromkeys(KINDS, 0)
        for outcome in self.outcomes:
            if outcome.kind in counts:
                counts[outcome.kind] += 1
        return counts

    def p99_ms(self) -> float:
        answered = sorted(o.seconds for o in self.outcomes if not o.stream and o.kind in {"ok", "status_5xx"})
        if not answered:
            return 0.0
        return round(answered[min(len(answered) - 1, math.ceil(0.99 * len(answered)) - 1)] * 1000, 2)


class _Failed(Exception):
    """A request that failed before any byte was exchanged (refused, timed out while connecting)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


REQUEST_ERRORS = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, TimeoutError, _Failed)
"""What a request can end in short of an answer (OSError covers refused and reset connections)."""
Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter, float]
"""Reader, writer and when (loop time) the connection was opened."""


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """(status, server closes) after reading one whole response."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {line.partition(":")[0].strip().lower(): line.partition(":")[2].strip().lower() for line in lines[1:]}
    if headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif headers.get("content-length", "").isdigit():
        await reader.readexactly(int(headers["content-length"]))
    elif status >= 200 and status not in {204, 304}:
        await reader.read()  # close-delimited
        return status, True
    return status, headers.get("connection") == "close"


class Load:
    """Runs the clients against `address:port` (loopback unless told) until `stop()`; `refused(port, since)`
    tells whether the Service hop found no listening endpoint for the client connection from that local port."""

    def __init__(
        self, port: int, shape: LoadShape, refused: Callable[[int, float], bool], address: str = "127.0.0.1"
    ) -> None:
        self.port, self.shape, self.refused, self.address = port, shape, refused, address
        self.recorder = Recorder()
        self._stopping = asyncio.Event()
        self._streams_stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stream_tasks: list[asyncio.Task[None]] = []
        self._loop = asyncio.get_running_loop()
        self._origin = self._loop.time()

    def now(self) -> float:
        return self._loop.time() - self._origin

    def start(self) -> None:
        shape = self.shape
        new_workers = (
            max(1, round(shape.keepalive_clients * shape.new_connection_share)) if shape.new_connection_share else 0
        )
        keepalive_rate = shape.rate * (1 - shape.new_connection_share) / max(shape.keepalive_clients, 1)
        new_rate = shape.rate * shape.new_connection_share / new_workers if new_workers else 0.0
        for index in range(shape.keepalive_clients):
            self._tasks.append(
                asyncio.create_task(self._keepalive(keepalive_rate, index / max(shape.keepalive_clients, 1)))
            )
        for index in range(new_workers):
            self._tasks.append(asyncio.create_task(self._new_connections(new_rate, index / new_workers)))
        self._stream_tasks = [asyncio.create_task(self._streams()) for _ in range(shape.stream_clients)]
        self._tasks += self._stream_tasks

    def stream_target(self) -> str:
        separator = "&" if "?" in self.shape.path else "?"
        return f"{self.shape.path}{separator}{STREAM_PARAMETER}={self.shape.stream_seconds:g}"

    async def answer(self) -> int | str:
        """One request as the clients send it: its status, or the kind of failure."""
        return await self._request(self.shape.path, self.shape.timeout)

    async def _request(self, target: str, timeout: float) -> int | str:
        """One request on a new connection (`Connection: close`): its status, or the kind of failure."""
        connection = None
        try:
            connection = await self._open()
            status, _ = await self._exchange(connection, target, True, timeout)
        except REQUEST_ERRORS as error:
            return self._classify(error, connection)
        finally:
            if connection is not None:
                connection[1].close()
        return status

    def stop_new_streams(self) -> None:
        self._streams_stopping.set()

    async def finish_streams(self) -> None:
        """No new long request from now on; returns once the ones running have ended."""
        self._streams_stopping.set()
        await asyncio.gather(*self._stream_tasks, return_exceptions=True)

    async def stop(self) -> Recorder:
        self._streams_stopping.set()
        self._stopping.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        return self.recorder

    async def _open(self) -> Connection:
        opened = self._loop.time()
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.address, self.port, limit=MAX_HEAD), self.shape.timeout
            )
        except ConnectionRefusedError:
            raise _Failed("refused") from None
        except TimeoutError:
            raise _Failed("timeout") from None
        return reader, writer, opened

    def _classify(self, error: BaseException, connection: Connection | None) -> str:
        """The kind of a failed request; a reset is *refused* when the Service hop found no listening endpoint
        for this connection (looked up by its local port, since it was opened)."""
        if isinstance(error, _Failed):
            return error.kind
        if isinstance(error, TimeoutError):
            return "timeout"
        if connection is not None:
            local = connection[1].get_extra_info("sockname")
            if local is not None and self.refused(local[1], connection[2]):
                return "refused"
        return "reset"

    async def _exchange(
        self,
        connection: Connection,
        target: str,
        close: bool,
        timeout: float,
    ) -> tuple[int, bool]:
        reader, writer, _ = connection
        head = f"GET {target} HTTP/1.1\r\nHost: {self.shape.host}\r\nUser-Agent: haproxy-guard-drill\r\n"
        writer.write((head + ("Connection: close\r\n" if close else "") + "\r\n").encode())
        await writer.drain()
        return await asyncio.wait_for(_read_response(reader), timeout)

    def _record(self, started: float, kind: str, stream: bool = False) -> None:
        self.recorder.outcomes.append(Outcome(started - self._origin, self._loop.time() - started, kind, stream))

    async def _paced(self, rate: float, phase: float) -> None:
        """Sleep to the next slot of a client sending `rate` requests per second."""
        interval = 1.0 / rate if rate > 0 else 1.0
        elapsed = self._loop.time() - self._origin
        next_slot = (math.floor(elapsed / interval - phase) + 1 + phase) * interval
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), max(0.0, next_slot - elapsed))

    async def _keepalive(self, rate: float, phase: float) -> None:
        connection: Connection | None = None
        while not self._stopping.is_set():
            await self._paced(rate, phase)
            if self._stopping.is_set():
                break
            started = self._loop.time()
            if connection is not None and connection[0].at_eof():
                connection[1].close()
                connection = None
            try:
                if connection is None:
                    connection = await self._open()
                status, closes = await self._exchange(connection, self.shape.path, False, self.shape.timeout)
            except REQUEST_ERRORS as error:
                self._record(
                    started,
                    self._classify(error, connection),
                )
                if connection is not None:
                    connection[1].close()
                connection = None
                continue
            self._record(started, "status_5xx" if status >= 500 else "ok")
            if closes:
                connection[1].close()
                connection = None
        if connection is not None:
            connection[1].close()

    async def _new_connections(self, rate: float, phase: float) -> None:
        while not self._stopping.is_set():
            await self._paced(rate, phase)
            if self._stopping.is_set():
                break
            await self._one(self.shape.path, stream=False)

    async def _one(self, target: str, *, stream: bool) -> None:
        started = self._loop.time()
        timeout = self.shape.timeout + (self.shape.stream_seconds if stream else 0.0)
        answer = await self._request(target, timeout)
        kind = answer if isinstance(answer, str) else ("status_5xx" if answer >= 500 else "ok")
        self._record(started, kind, stream)

    async def _streams(self) -> None:
        while not self._streams_stopping.is_set():
            await self._one(self.stream_target(), stream=True)
