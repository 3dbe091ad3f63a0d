"""The event-loop group commit: what a batch carries, how failures spread, and cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from dockyard.store.group_commit import AsyncGroupCommit, PendingWrite
from tests.unit.batch_answers import answer


class Recorder:
    """A batch runner that answers each write with its own payload and can hold a batch."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = asyncio.Event()
        self.release.set()
        self.fail_batch: int | None = None

    async def __call__(self, batch: Sequence[PendingWrite]) -> None:
        self.batches.append([w.payload["n"] for w in batch])
        await self.release.wait()
        answer(batch, fail=self.fail_batch == len(self.batches) - 1)


async def _settle(tasks: list[asyncio.Task[list[tuple[object, ...]]]]) -> list[object]:
    return list(await asyncio.gather(*tasks, return_exceptions=True))


def test_a_lone_write_runs_in_a_batch_of_its_own() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        group = AsyncGroupCommit(recorder)
        assert await group.write({"n": 1}) == [(1,)]
        assert recorder.batches == [[1]]

    asyncio.run(scenario())


def test_writes_that_queue_behind_a_batch_share_the_next_one() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        recorder.release.clear()
        group = AsyncGroupCommit(recorder)
        first = asyncio.create_task(group.write({"n": 0}))
        await asyncio.sleep(0)  # the drain task starts the first batch and waits in it
        await asyncio.sleep(0)
        rest = [asyncio.create_task(group.write({"n": n})) for n in range(1, 6)]
        await asyncio.sleep(0)
        recorder.release.set()
        assert await _settle([first, *rest]) == [[(n,)] for n in range(6)]
        assert recorder.batches == [[0], [1, 2, 3, 4, 5]]

    asyncio.run(scenario())


def test_a_batch_never_exceeds_its_limit_and_the_queue_drains() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        group = AsyncGroupCommit(recorder, max_batch=3)
        results = await _settle([asyncio.create_task(group.write({"n": n})) for n in range(8)])
        assert results == [[(n,)] for n in range(8)]
        assert [len(b) for b in recorder.batches] == [3, 3, 2]

    asyncio.run(scenario())


def test_one_writes_error_is_its_own() -> None:
    async def scenario() -> None:
        group = AsyncGroupCommit(Recorder())
        results = await _settle([asyncio.create_task(group.write({"n": n})) for n in (1, -2, 3)])
        assert results[0] == [(1,)] and results[2] == [(3,)]
        assert isinstance(results[1], ValueError) and "write -2" in str(results[1])

    asyncio.run(scenario())


def test_a_failed_batch_fails_its_writes_and_the_next_batch_still_runs() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        recorder.fail_batch = 0
        group = AsyncGroupCommit(recorder)
        results = await _settle([asyncio.create_task(group.write({"n": n})) for n in (1, 2)])
        assert all(isinstance(r, ConnectionError) for r in results)
        assert await group.write({"n": 3}) == [(3,)]

    asyncio.run(scenario())


def test_a_caller_that_goes_away_leaves_its_write_to_finish() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        recorder.release.clear()
        group = AsyncGroupCommit(recorder)
        caller = asyncio.create_task(group.write({"n": 7}))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        recorder.release.set()
        assert await group.write({"n": 8}) == [(8,)]
        assert recorder.batches == [[7], [8]]  # the cancelled caller's write still ran

    asyncio.run(scenario())
