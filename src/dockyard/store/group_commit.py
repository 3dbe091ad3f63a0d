"""Group commit: concurrent standalone appends share one transaction and one WAL flush.

Appends are serialized by a lock held until commit (see events.py), so PostgreSQL's own group
commit never applies to them: each append waits for the previous one's flush, and a process
with twenty concurrent writers gets one flush's worth of throughput. Here a process's
concurrent writes are combined instead. Whoever arrives while no batch is running becomes the
*leader* and runs the batch (``dockyard_write_batch``: one statement, each write in its own
subtransaction so one write's conflict fails that write alone); writes that arrive meanwhile
queue, and when the batch is done the leader hands leadership to the oldest queued writer,
whose batch carries everything that queued. There is no background thread: an idle process
pays nothing, and a lone write runs at once. Every write returns only after its batch
committed, so durability is unchanged.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

# PostgreSQL caches 64 subtransaction ids per backend; more overflow it and slow every snapshot.
MAX_BATCH = 48


@dataclass
class PendingWrite:
    """One caller's write. ``rows`` or ``error`` is set before ``done``."""

    payload: dict[str, Any]
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    error: BaseException | None = None
    done: bool = False
    _wake: threading.Event = field(default_factory=threading.Event)


# Runs one batch: fills in every write's rows or error (it must not raise for one write's
# failure; an exception it raises fails the whole batch).
BatchRunner = Callable[[Sequence[PendingWrite]], None]
AsyncBatchRunner = Callable[[Sequence[PendingWrite]], Awaitable[None]]


def _fail_unsettled(batch: Sequence[PendingWrite], exc: BaseException) -> None:
    """The whole batch failed (e.g. the connection broke): every write not settled fails."""
    for write in batch:
        if write.error is None and not write.rows:
            write.error = exc


class GroupCommit:
    def __init__(self, run_batch: BatchRunner, *, max_batch: int = MAX_BATCH) -> None:
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: deque[PendingWrite] = deque()
        self._leading = False

    def write(self, payload: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Run ``payload`` in the next batch; its rows, or its error raised here."""
        mine = PendingWrite(payload)
        with self._lock:
            self._queue.append(mine)
            lead = not self._leading
            self._leading = True
        if not lead:
            mine._wake.wait()  # set when our batch is done, or when we become the leader
        if not mine.done:
            self._lead()
        if mine.error is not None:
            raise mine.error
        return mine.rows

    def _lead(self) -> None:
        # A new leader's own write is at the head of the queue, so this batch carries it.
        with self._lock:
            batch = [self._queue.popleft() for _ in range(min(self._max_batch, len(self._queue)))]
        try:
            self._run_batch(batch)
        except BaseException as exc:
            _fail_unsettled(batch, exc)
            if not isinstance(exc, Exception):
                raise  # KeyboardInterrupt and the like still end this thread
        finally:
            for write in batch:
                write.done = True
                write._wake.set()
            with self._lock:
                if self._queue:
                    self._queue[0]._wake.set()  # not done: it wakes as the next leader
                else:
                    self._leading = False


class AsyncGroupCommit:
    """``GroupCommit`` for writers on one event loop: the same batches, without threads.

    The first write that finds no batch running starts a drain task; it runs one batch after
    another, each carrying everything that queued while the previous one ran, and ends when
    the queue is empty. A writer awaits only its own write's outcome.
    """

    def __init__(self, run_batch: AsyncBatchRunner, *, max_batch: int = MAX_BATCH) -> None:
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._queue: deque[tuple[PendingWrite, asyncio.Future[None]]] = deque()
        self._drain_task: asyncio.Task[None] | None = None

    async def write(self, payload: dict[str, Any]) -> list[tuple[Any, ...]]:
        mine = PendingWrite(payload)
        settled = asyncio.get_running_loop().create_future()
        self._queue.append((mine, settled))
        if self._drain_task is None:
            self._drain_task = asyncio.create_task(self._drain())
        # Shielded: a caller that goes away (a client hanging up) leaves its write to finish.
        await asyncio.shield(settled)
        if mine.error is not None:
            raise mine.error
        return mine.rows

    async def _drain(self) -> None:
        try:
            while self._queue:
                taken = min(self._max_batch, len(self._queue))
                queued = [self._queue.popleft() for _ in range(taken)]
                batch = [write for write, _ in queued]
                try:
                    await self._run_batch(batch)
                except BaseException as exc:
                    _fail_unsettled(batch, exc)
                    if not isinstance(exc, Exception):
                        raise
                finally:
                    for _, settled in queued:
                        if not settled.done():
                            settled.set_result(None)
        finally:
            self._drain_task = None
            for write, settled in self._queue:  # only when the task itself was cancelled
                write.error = RuntimeError("the write path is shutting down")
                settled.set_result(None)
            self._queue.clear()
