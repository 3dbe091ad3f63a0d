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

import threading
from collections import deque
from collections.abc import Callable, Sequence
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
        except BaseException as exc:  # the whole batch failed (e.g. the connection broke)
            for write in batch:
                if write.error is None and not write.rows:
                    write.error = exc
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
