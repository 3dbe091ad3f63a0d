"""The group-commit combiner: who leads, what a batch carries, and how failures spread."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from dockyard.store.group_commit import GroupCommit, PendingWrite
from tests.unit.batch_answers import answer


def wait_until(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


class Recorder:
    """A batch runner that answers each write with its own payload and can hold a batch."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.threads: list[str] = []
        self.release = threading.Event()
        self.release.set()
        self.started = threading.Event()
        self.fail_batch: int | None = None

    def __call__(self, batch: Sequence[PendingWrite]) -> None:
        self.batches.append([w.payload["n"] for w in batch])
        self.threads.append(threading.current_thread().name)
        self.started.set()
        self.release.wait(10)
        answer(batch, fail=self.fail_batch == len(self.batches) - 1)


def test_a_lone_write_runs_at_once_on_the_callers_thread() -> None:
    recorder = Recorder()
    group = GroupCommit(recorder)
    assert group.write({"n": 1}) == [(1,)]
    assert recorder.batches == [[1]]
    assert recorder.threads == [threading.current_thread().name]


def test_writes_that_queue_behind_a_batch_share_the_next_one() -> None:
    recorder = Recorder()
    recorder.release.clear()
    group = GroupCommit(recorder)
    results: dict[int, object] = {}

    def write(n: int) -> None:
        results[n] = group.write({"n": n})

    first = threading.Thread(target=write, args=(0,))
    first.start()
    recorder.started.wait(10)  # batch [0] is running and held
    others = [threading.Thread(target=write, args=(n,)) for n in range(1, 11)]
    for t in others:
        t.start()
    wait_until(lambda: len(group._queue) == 10)
    recorder.release.set()
    for t in [first, *others]:
        t.join(10)
    assert recorder.batches[0] == [0]
    assert sorted(recorder.batches[1]) == list(range(1, 11))  # one batch for all that queued
    assert len(recorder.batches) == 2
    assert results == {n: [(n,)] for n in range(11)}


def test_a_batch_never_exceeds_its_limit_and_the_queue_drains() -> None:
    recorder = Recorder()
    recorder.release.clear()
    group = GroupCommit(recorder, max_batch=4)
    threads = [threading.Thread(target=group.write, args=({"n": n},)) for n in range(10)]
    threads[0].start()
    recorder.started.wait(10)
    for t in threads[1:]:
        t.start()
    wait_until(lambda: len(group._queue) == 9)
    recorder.release.set()
    for t in threads:
        t.join(10)
        assert not t.is_alive()
    assert [len(b) for b in recorder.batches] == [1, 4, 4, 1]
    assert sorted(n for b in recorder.batches for n in b) == list(range(10))


def test_one_writes_error_is_its_own() -> None:
    recorder = Recorder()
    recorder.release.clear()
    group = GroupCommit(recorder)
    outcomes: dict[int, object] = {}

    def write(n: int) -> None:
        try:
            outcomes[n] = group.write({"n": n})
        except ValueError as exc:
            outcomes[n] = str(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in (0, 1, -2, 3)]
    threads[0].start()
    recorder.started.wait(10)
    for t in threads[1:]:
        t.start()
    wait_until(lambda: len(group._queue) == 3)
    recorder.release.set()
    for t in threads:
        t.join(10)
    assert outcomes == {0: [(0,)], 1: [(1,)], -2: "write -2 is refused", 3: [(3,)]}


def test_a_failed_batch_fails_its_writes_and_the_next_batch_still_runs() -> None:
    recorder = Recorder()
    recorder.fail_batch = 0
    group = GroupCommit(recorder)
    with pytest.raises(ConnectionError):
        group.write({"n": 1})
    assert group.write({"n": 2}) == [(2,)]  # leadership was handed back
