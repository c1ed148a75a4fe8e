"""A work queue for the rollout controller, in the manner of client-go's rate-limited workqueue.

- Deduplicating: a key waiting once is processed once, however many events named it (several keys of one
  ConfigMap changed, or several ConfigMaps of one workload: one decision, one rollout).
- Bounded: at most `max_keys` distinct keys wait; past that a key is dropped and `overflowed` is set, and the
  controller answers with a full resync from the API server (nothing is lost, only delayed).
- Rate-limited: `take` hands out at most `per_second` keys a second after a burst of `burst` (a token bucket),
  so one ConfigMap mounted by hundreds of workloads rolls them progressively.
- Backoff per key: a key that failed comes back after 1 s, 2 s, 4 s ... up to `max_backoff_seconds`;
  `forget` resets it after a success.
A key being processed and named again meanwhile is processed again afterwards (never twice at once).
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)


class WorkQueue(Generic[Key]):
    def __init__(
        self,
        *,
        max_keys: int = 10_000,
        per_second: float = 5.0,
        burst: int = 10,
        base_backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_keys = max_keys
        self.per_second = per_second
        self.burst = burst
        self.base_backoff_seconds = base_backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self._clock = clock
        self._ready: list[Key] = []
        self._waiting: set[Key] = set()
        self._later: list[tuple[float, int, Key]] = []  # (when, tie-breaker, key): retries after a backoff
        self._processing: set[Key] = set()
        self._again: set[Key] = set()
        self._failures: dict[Key, int] = {}
        self._tokens = float(burst)
        self._refilled = clock()
        self._sequence = 0
        self._closed = False
        self.overflowed = False
        self._condition = threading.Condition()

    def add(self, key: Key) -> None:
        with self._condition:
            if self._closed:
                return
            if key in self._processing:
                self._again.add(key)
                return
            if key in self._waiting:
                return
            if len(self._waiting) + len(self._later) >= self.max_keys:
                self.overflowed = True
                return
            self._waiting.add(key)
            self._ready.append(key)
            self._condition.notify()

    def retry(self, key: Key) -> float:
        """Put `key` back after its backoff (which grows with each failure); the delay."""
        with self._condition:
            failures = self._failures.get(key, 0)
            self._failures[key] = failures + 1
            delay = float(min(self.max_backoff_seconds, self.base_backoff_seconds * 2.0**failures))
            self._sequence += 1
            heapq.heappush(self._later, (self._clock() + delay, self._sequence, key))
            self._condition.notify()
            return delay

    def forget(self, key: Key) -> None:
        with self._condition:
            self._failures.pop(key, None)

    def done(self, key: Key) -> None:
        """`key` is processed; if it was named again meanwhile, it waits again."""
        with self._condition:
            self._processing.discard(key)
            if key in self._again:
                self._again.discard(key)
                if key not in self._waiting:
                    self._waiting.add(key)
                    self._ready.append(key)
                    self._condition.notify()

    def take(self, timeout: float) -> Key | None:
        """The next key (mark it `done` after), waiting up to `timeout` seconds; None when there is none or the
        queue is closed."""
        deadline = self._clock() + timeout
        with self._condition:
            while not self._closed:
                now = self._clock()
                self._promote(now)
                self._refill(now)
                if self._ready and self._tokens >= 1:
                    key = self._ready.pop(0)
                    self._waiting.discard(key)
                    self._processing.add(key)
                    self._tokens -= 1
                    return key
                wait = deadline - now
                if wait <= 0:
                    return None
                if self._ready:  # rate-limited: until the next token
                    wait = min(wait, (1 - self._tokens) / self.per_second)
                elif self._later:
                    wait = min(wait, self._later[0][0] - now)
                self._condition.wait(max(wait, 0.001))
            return None

    def _promote(self, now: float) -> None:
        while self._later and self._later[0][0] <= now:
            _, _, key = heapq.heappop(self._later)
            if key in self._processing:
                self._again.add(key)
            elif key not in self._waiting:
                self._waiting.add(key)
                self._ready.append(key)

    def _refill(self, now: float) -> None:
        self._tokens = min(float(self.burst), self._tokens + (now - self._refilled) * self.per_second)
        self._refilled = now

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    def __len__(self) -> int:
        with self._condition:
            return len(self._waiting) + len(self._later)
