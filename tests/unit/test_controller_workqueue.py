"""The keyed work queue: dedupe, one key at a time, back-off, retry cap."""

from __future__ import annotations

import time

from dockyard.controllers.runtime import WorkQueue


def _queue(**kwargs: float) -> WorkQueue:
    return WorkQueue(
        backoff_base=kwargs.get("base", 0.01), backoff_cap=kwargs.get("cap", 0.05), max_retries=3
    )


def test_queued_key_is_deduplicated_and_keeps_highest_causation() -> None:
    queue = _queue()
    queue.add("a", 5)
    queue.add("a", 9)
    queue.add("b")
    assert queue.get(10, timeout=0.1) == [("a", 9), ("b", None)]


def test_key_in_progress_is_not_handed_out_again_until_done() -> None:
    queue = _queue()
    queue.add("a")
    assert queue.get(timeout=0.1) == [("a", None)]
    queue.add("a", 3)  # while processing: dirty, not queued
    assert queue.get(timeout=0.05) == []
    queue.done("a")
    assert queue.get(timeout=0.1) == [("a", 3)]


def test_retry_backs_off_and_gives_up_after_max_retries() -> None:
    queue = _queue(base=0.02, cap=0.04)
    queue.add("a")
    assert queue.get(timeout=0.1) == [("a", None)]
    delays = []
    for _ in range(3):
        queue.done("a")
        started = time.monotonic()
        assert queue.retry("a")
        assert queue.get(timeout=1.0) == [("a", None)]
        delays.append(time.monotonic() - started)
    queue.done("a")
    assert not queue.retry("a"), "the fourth failure drops the key"
    assert delays[0] >= 0.015 and delays[1] >= 0.035 and delays[2] < 0.2
    assert len(queue) == 0


def test_add_after_delays() -> None:
    queue = _queue()
    queue.add_after("a", 0.05)
    assert queue.get(timeout=0.01) == []
    assert queue.get(timeout=0.5) == [("a", None)]
