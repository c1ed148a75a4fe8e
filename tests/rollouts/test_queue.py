"""The rollout controller's work queue: one processing per key however often it is named, a bound that asks
for a resync instead of growing, a token bucket, backoff per key, and a key named while it is processed
processed again after."""

from __future__ import annotations

import threading

from haproxy_guard.webhook.rollouts.queue import WorkQueue


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_key_named_many_times_is_taken_once() -> None:
    queue: WorkQueue[str] = WorkQueue()
    for _ in range(5):
        queue.add("edge")
    queue.add("other")
    assert [queue.take(0), queue.take(0), queue.take(0)] == ["edge", "other", None]


def test_past_its_bound_the_queue_drops_and_asks_for_a_resync() -> None:
    queue: WorkQueue[int] = WorkQueue(max_keys=3)
    for key in range(5):
        queue.add(key)
    assert len(queue) == 3 and queue.overflowed


def test_the_token_bucket_limits_the_rate_after_the_burst() -> None:
    clock = Clock()
    queue: WorkQueue[int] = WorkQueue(per_second=2, burst=3, clock=clock)
    for key in range(10):
        queue.add(key)
    assert [queue.take(0) for _ in range(4)] == [0, 1, 2, None], "the burst, then nothing until time passes"
    clock.now += 1.0  # two tokens
    assert [queue.take(0) for _ in range(3)] == [3, 4, None]


def test_a_failed_key_comes_back_after_a_growing_backoff() -> None:
    clock = Clock()
    queue: WorkQueue[str] = WorkQueue(base_backoff_seconds=1, max_backoff_seconds=4, clock=clock)
    queue.add("edge")
    delays = []
    for _ in range(4):
        key = queue.take(0)
        assert key == "edge"
        delays.append(queue.retry(key))
        queue.done(key)
        assert queue.take(0) is None, "not before its backoff"
        clock.now += delays[-1]
    assert delays == [1, 2, 4, 4]
    key = queue.take(0)
    assert key == "edge"
    queue.forget(key)
    assert queue.retry(key) == 1, "a success resets the backoff"


def test_a_key_named_while_processed_is_processed_again_after() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("edge")
    key = queue.take(0)
    queue.add("edge")  # a new event while the worker decides on the old state
    assert queue.take(0) is None, "never twice at once"
    assert key is not None
    queue.done(key)
    assert queue.take(0) == "edge"


def test_take_waits_for_a_key_and_close_wakes_it() -> None:
    queue: WorkQueue[str] = WorkQueue()
    taken: list[str | None] = []
    thread = threading.Thread(target=lambda: taken.append(queue.take(5)))
    thread.start()
    queue.add("edge")
    thread.join(5)
    assert taken == ["edge"]
    waiting = threading.Thread(target=lambda: taken.append(queue.take(30)))
    waiting.start()
    queue.close()
    waiting.join(5)
    assert not waiting.is_alive() and taken[-1] is None
