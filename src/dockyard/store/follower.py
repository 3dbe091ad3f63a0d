"""Following the log: catch up from a checkpoint, then follow as appends commit.

Followers are woken by ``LISTEN dockyard_events`` (a payload-free wake-up, see events.py) and
poll at least every ``poll_interval`` seconds in case a notification is lost; they always
re-read from their own checkpoint, so a notification is never trusted to carry data. Appends
are serialized in commit order (events.py), so ``position > checkpoint`` never skips an event
that commits late.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

from dockyard.store.db import connect_raw
from dockyard.store.events import NOTIFY_CHANNEL, EventStore, RecordedEvent


class LogFollower:
    """Catch up from a checkpoint, then follow the log as it grows.

    Iterating yields batches (lists) of events in position order; an empty batch means "woken,
    nothing new", which lets a caller check its own stop conditions. ``stop()`` ends the
    iteration within one poll interval.
    """

    def __init__(
        self,
        store: EventStore,
        database_url: str,
        *,
        after: int = 0,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        types: Sequence[str] | None = None,
    ) -> None:
        if not 0 < poll_interval <= 1.0:
            raise ValueError("poll_interval must be in (0, 1] seconds")
        self.store = store
        self.position = after
        self._url = database_url
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._types = list(types) if types is not None else None
        self._stopped = threading.Event()

    def stop(self) -> None:
        self._stopped.set()

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def batches(self) -> Iterator[list[RecordedEvent]]:
        listener = connect_raw(self._url, autocommit=True)
        try:
            # LISTEN before the first read: a commit after this point always wakes us.
            listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
            while not self._stopped.is_set():
                batch = self.store.read_all(
                    after=self.position, limit=self._batch_size, types=self._types
                )
                if batch:
                    self.position = batch[-1].position
                    yield batch
                    if len(batch) == self._batch_size:
                        continue  # still catching up: read on before waiting
                else:
                    yield batch
                # Drain wake-ups that arrived while we read, or wait for the next one.
                for _ in listener.notifies(timeout=self._poll_interval, stop_after=1):
                    pass
        finally:
            listener.close()

    def __iter__(self) -> Iterator[RecordedEvent]:
        for batch in self.batches():
            yield from batch
