"""What one replica lets its callers hold: time to send a request head, bytes of bodies in flight, connections.

- **Head timeout.** A connection must finish each request head within `header_timeout_seconds` of its first
  byte (or of the connection, for the first one), else it is closed: partial heads cannot pin connections
  (slowloris). uvicorn has no such timer, so its protocol is extended here (`guarded_protocol`).
- **Body budget.** Bodies being received by all connections together may hold at most `max_bytes`; past it a
  request is answered 503 with `Retry-After` before more of it is read, so a burst of large, slow uploads
  cannot grow memory without bound. Its default is derived from the pod's memory limit (`default_budget`).
- **Connections.** uvicorn's `limit_concurrency` answers 503 past `maxConnections` connections or tasks.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

CGROUP_MEMORY_MAX = Path("/sys/fs/cgroup/memory.max")
MIB = 1024 * 1024


def default_budget(memory_max: Path = CGROUP_MEMORY_MAX) -> int:
    """An eighth of the container's memory limit (cgroup v2), between 16 and 256 MiB; 64 MiB when unlimited
    or unknown. Parsing a review costs several times its size, and the validator needs room too."""
    try:
        text = memory_max.read_text().strip()
    except OSError:
        return 64 * MIB
    if not text.isdigit():
        return 64 * MIB
    return max(16 * MIB, min(256 * MIB, int(text) // 8))


def _malloc_trim() -> Callable[[], object] | None:
    """glibc's `malloc_trim(0)`: hands freed heap pages back to the kernel (None where there is no glibc)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], object] = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    return lambda: trim(0)


class BodyBudget:
    """Bytes of request bodies held by all requests being read; single event loop, so no lock.

    When the bodies in flight drop back to zero after having held more than `TRIM_AFTER_BYTES`, freed heap
    pages are handed back to the kernel (glibc keeps them otherwise), so memory returns to its level from
    before a burst instead of staying at the peak."""

    TRIM_AFTER_BYTES = 8 * MIB

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.in_flight = 0
        self.peak = 0
        self._trim = _malloc_trim()

    def take(self, size: int) -> bool:
        """Reserve `size` bytes; False (nothing reserved) when that would exceed the budget."""
        if self.in_flight + size > self.max_bytes:
            return False
        self.in_flight += size
        self.peak = max(self.peak, self.in_flight)
        return True

    def give_back(self, size: int) -> None:
        self.in_flight -= size
        if self.in_flight == 0 and self.peak > self.TRIM_AFTER_BYTES:
            self.peak = 0
            if self._trim is not None:
                asyncio.get_running_loop().call_later(1.0, self._trim)  # once the request's objects are gone


def guarded_protocol(header_timeout_seconds: float) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with a deadline on every request head."""

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        _head_timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(header_timeout_seconds, self._head_expired)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_expired(self) -> None:
            self._head_timer = None
            if not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return GuardedHttpToolsProtocol
