"""Projections: fold the log into read models, exactly once, and rebuild them by replay.

A projection applies a batch of events to its tables and advances its checkpoint in the same
transaction, so a crash between the two is impossible and replaying an applied event changes
nothing. The checkpoint row is locked (``FOR UPDATE``) for the duration of the batch: two
runners of one projection never apply the same events, they take turns.

Projections must derive everything from the events (times from ``recorded_at``, never
``now()``), so that a rebuild is identical to the live tables.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import Connection, Engine

from dockyard.store.events import EventStore, RecordedEvent
from dockyard.store.follower import LogFollower

log = logging.getLogger(__name__)


class EventBatch:
    """The events with ``after < position <= until`` (of the projection's types).

    Set-based projections fold the range in SQL and never load the events into Python;
    others read ``events``, loaded on first use.
    """

    def __init__(
        self,
        store: EventStore,
        conn: Connection,
        *,
        after: int,
        until: int,
        types: Sequence[str] | None,
    ) -> None:
        self.after = after
        self.until = until
        self.types = types
        self._store = store
        self._conn = conn
        self._events: list[RecordedEvent] | None = None

    @property
    def events(self) -> list[RecordedEvent]:
        if self._events is None:
            self._events = self._store.read_all(
                after=self.after,
                until=self.until,
                types=self.types,
                limit=self.until - self.after,
                conn=self._conn,
            )
        return self._events


class Projection(Protocol):
    """A read model fed by the log."""

    name: str
    # The tables this projection owns: emptied before a rebuild.
    tables: Sequence[str]
    # The event types it reads (None = all).
    event_types: Sequence[str] | None

    def apply(self, conn: Connection, batch: EventBatch) -> None:
        """Apply a batch of events (in position order) inside the caller's transaction."""
        ...


class UnknownProjection(LookupError):
    pass


def checkpoint(conn: Connection, name: str) -> int:
    row = conn.exec_driver_sql(
        "SELECT position FROM projection_checkpoints WHERE name = %s", (name,)
    ).first()
    return int(row[0]) if row else 0


def _lock_checkpoint(conn: Connection, name: str) -> int:
    conn.exec_driver_sql(
        "INSERT INTO projection_checkpoints (name, position) VALUES (%s, 0) "
        "ON CONFLICT (name) DO NOTHING",
        (name,),
    )
    row = conn.exec_driver_sql(
        "SELECT position FROM projection_checkpoints WHERE name = %s FOR UPDATE", (name,)
    ).one()
    return int(row[0])


def _advance(conn: Connection, name: str, position: int) -> None:
    conn.exec_driver_sql(
        "UPDATE projection_checkpoints SET position = %s, updated_at = now() "
        "WHERE name = %s AND position < %s",
        (position, name, position),
    )


class ProjectionRunner:
    """Runs projections against the log: one batch at a time, or following it."""

    def __init__(
        self,
        engine: Engine,
        store: EventStore,
        projections: Sequence[Projection],
        *,
        batch_size: int = 1000,
        rebuild_batch_size: int = 50_000,
    ) -> None:
        self.engine = engine
        self.store = store
        self.projections = list(projections)
        self.batch_size = batch_size
        # A rebuild replays history nobody waits on, in one transaction: wide ranges let a
        # set-based projection fold many events of one object into one write (an object
        # updated ten times in a range is written once), which is most of a replay's speed.
        self.rebuild_batch_size = rebuild_batch_size
        self._caught_up = threading.Condition()

    def get(self, name: str) -> Projection:
        for projection in self.projections:
            if projection.name == name:
                return projection
        known = ", ".join(p.name for p in self.projections)
        raise UnknownProjection(f"no projection named {name!r} (known: {known})")

    def run_once(self, projection: Projection) -> int:
        """Apply the next batch; returns how many events it applied (0 = caught up)."""
        with self.engine.begin() as conn:
            position = _lock_checkpoint(conn, projection.name)
            return self._apply_batch(conn, projection, position, self.batch_size)

    def _apply_batch(
        self, conn: Connection, projection: Projection, position: int, width: int
    ) -> int:
        head = self.store.head_position(conn=conn)
        if head <= position:
            return 0
        # A batch is a range of positions; rolled-back appends leave holes, so it may hold
        # fewer events than its width, never more.
        until = min(head, position + width)
        batch = EventBatch(
            self.store, conn, after=position, until=until, types=projection.event_types
        )
        projection.apply(conn, batch)
        _advance(conn, projection.name, until)
        return until - position

    def catch_up(self, projection: Projection | None = None) -> int:
        """Run until every (or the given) projection has reached the head of the log."""
        total = 0
        for p in [projection] if projection else self.projections:
            while (applied := self.run_once(p)) > 0:
                total += applied
        with self._caught_up:
            self._caught_up.notify_all()
        return total

    def rebuild(self, projection: Projection) -> int:
        """Empty the projection's tables and replay the whole log, in one transaction.

        Readers keep seeing the old tables until the rebuild commits; the checkpoint row stays
        locked meanwhile, so a live runner waits instead of racing the rebuild.
        """
        applied = 0
        with self.engine.begin() as conn:
            _lock_checkpoint(conn, projection.name)
            conn.exec_driver_sql(f"TRUNCATE {', '.join(projection.tables)}")
            conn.exec_driver_sql(
                "UPDATE projection_checkpoints SET position = 0, updated_at = now() "
                "WHERE name = %s",
                (projection.name,),
            )
            position = 0
            while True:
                n = self._apply_batch(conn, projection, position, self.rebuild_batch_size)
                if n == 0:
                    break
                applied += n
                position = checkpoint(conn, projection.name)
        return applied

    def positions(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {p.name: checkpoint(conn, p.name) for p in self.projections}

    def wait_for(self, position: int, timeout: float) -> bool:
        """Block until every projection has applied ``position`` (read-your-writes)."""
        deadline = time.monotonic() + timeout
        while True:
            if min(self.positions().values(), default=position) >= position:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._caught_up:
                self._caught_up.wait(min(remaining, 0.05))

    def follow(self, follower: LogFollower) -> None:
        """Apply new events as the log grows, until the follower is stopped."""
        self.catch_up()
        for _batch in follower.batches():
            if follower.stopped:
                break
            try:
                self.catch_up()
            except Exception:  # keep following; the next wake-up retries from the checkpoint
                log.exception("projection batch failed; retrying on the next wake-up")
