"""One write per response: the response head and body joined before they reach TLS and the socket.

uvicorn writes a response's head when the app starts it and its body when the app sends it: two TLS
records and two `send` calls for every admission reply (about a tenth of the server's CPU per `/mutate`,
`bench/README.md`). `CoalescingHttpToolsProtocol` hands its cycles a transport that keeps what is written
and passes it on at once when the response is complete, when the connection closes, and otherwise at the
end of the event loop's turn (a `100 Continue`, a streamed body): bytes are never held back longer than the
turn that wrote them, and their order is kept.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport:
    """The connection's transport, with writes joined until `flush` (everything else passes through)."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._transport, self._loop = transport, loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)  # at the latest at the end of this turn
        self._pending.append(data)

    def flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending) if len(self._pending) > 1 else self._pending[0]
            self._pending.clear()
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info, pause_reading, set_protocol...
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing each response in one piece."""

    def connection_made(self, transport: Any) -> None:  # uvloop's TLS transport is no asyncio.Transport subclass
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]  # a proxy

    def on_response_complete(self) -> None:
        flush = getattr(self.transport, "flush", None)
        if flush is not None:
            flush()
        super().on_response_complete()
