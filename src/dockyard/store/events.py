"""The append-only event log: append, read, and follow without ever skipping an event.

The gap problem, and how Dockyard avoids it
-------------------------------------------
Positions come from an identity sequence, and ``nextval()`` is not transactional: if
transaction A takes position 101 and B takes 102, and B commits first, a reader that sees 102
and checkpoints it will never see 101 when A commits a moment later.

Dockyard **serializes appenders**: ``dockyard_append()`` (see the first migration) takes one
transaction-scoped advisory lock before it allocates positions, and holds it until commit.
PostgreSQL makes a transaction visible before it releases its locks, so the next appender can
only take a position after the previous one is visible. Position order is therefore commit
order, and a follower can trust ``position > checkpoint`` with no gap detection, no timeouts
and no waiting on holes (a rolled-back append leaves a hole that nothing waits for).

Why not the alternatives: Marten-style gap timeouts skip slow commits; the xid8/xmin reader
lets any long transaction stall every reader and orders by xid, not commit. The cost of
serializing is one commit at a time per database, measured in ``bench/append.py``; batching
events into one transaction is the lever: a caller can append many events at once, and a
process's concurrent standalone appends are combined into one transaction by group commit
(group_commit.py), so twenty writers share one disk flush instead of queueing for twenty.
A statement trigger refuses INSERTs that bypass ``dockyard_append()``, so nothing can
reintroduce the gap by writing around the lock.

Every append ends with ``NOTIFY dockyard_events`` (a payload-free wake-up for followers,
follower.py). Each object event also sends ``dockyard_watch`` with the event itself, for the API
server's watch hubs (migration 0010, server/loghub.py).

Reading a range of the log with a type filter
---------------------------------------------
Followers, projections and watch hubs read ``position > a AND position <= b`` and keep some
types. Their statements are prepared or live in PL/pgSQL, so PostgreSQL may reuse a generic
plan made while the log was small, and such a plan can AND the range with a bitmap scan of
``events_type_recorded_at``: every event of those types, on every read, a cost that grows with
the log. Those reads write the filter as ``type || '' = ANY(...)``, which no index serves, so the
primary key's range is the only way in (migration 0007 does the same in the objects projection).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import Connection, Engine, QueuePool, create_engine

from dockyard.store.append_errors import (
    RequiredObject,
    batch_error,
    translate_errors,
)
from dockyard.store.catalogue import CATALOGUE, EventType, JsonDict, P
from dockyard.store.group_commit import GroupCommit, PendingWrite

NOTIFY_CHANNEL = "dockyard_events"
# Each object event, with its text, for the watch hubs (migration 0010, server/loghub.py).
WATCH_CHANNEL = "dockyard_watch"
ANY_VERSION: None = None
NO_STREAM = 0


# A UUIDv7 is unix_ts_ms (48 bits) | version (4) | rand_a (12) | variant (2) | rand_b (62): the
# low 80 bits are random except where the version and variant go (one mask, one OR: appends
# build one id per event).
_UUID7_RANDOM_BITS = ((1 << 80) - 1) & ~(0xF << 76) & ~(0x3 << 62)
_UUID7_MARKERS = (0x7 << 76) | (0x2 << 62)  # version 7, RFC 9562 variant


def time_ordered_uuid() -> uuid.UUID:
    """A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits.

    Event ids are unique-indexed; ids that grow with time land at the right edge of that
    index instead of on random pages, which keeps appends cheap as the log grows.
    """
    millis = time.time_ns() // 1_000_000
    random = int.from_bytes(os.urandom(10), "big") & _UUID7_RANDOM_BITS
    return uuid.UUID(int=millis << 80 | random | _UUID7_MARKERS)


@dataclass(frozen=True)
class NewEvent:
    """An event to append. Build one with :func:`new_event` to validate its payload."""

    stream_id: str
    type: str
    data: JsonDict
    metadata: JsonDict = field(default_factory=dict)
    schema_version: int = 1
    event_id: uuid.UUID = field(default_factory=time_ordered_uuid)


@dataclass(frozen=True)
class RecordedEvent:
    position: int
    event_id: uuid.UUID
    stream_id: str
    version: int
    type: str
    schema_version: int
    data: JsonDict
    metadata: JsonDict
    recorded_at: datetime

    def payload(self, event_type: EventType[P]) -> P:
        """The payload as its declared model (upcast from older schema versions)."""
        if event_type.name != self.type:
            raise TypeError(f"event {self.position} is a {self.type}, not a {event_type.name}")
        return event_type.decode(self.data, self.schema_version)


def new_event(
    event_type: EventType[P],
    stream_id: str,
    payload: P,
    *,
    metadata: Mapping[str, Any] | None = None,
    event_id: uuid.UUID | None = None,
) -> NewEvent:
    return NewEvent(
        stream_id=stream_id,
        type=event_type.name,
        data=event_type.encode(payload),
        metadata=dict(metadata or {}),
        schema_version=event_type.schema_version,
        event_id=event_id or time_ordered_uuid(),
    )


# One JSON document per append: a single serialization on our side and one parse on the
# server's is several times cheaper than adapting six parallel arrays element by element.
_APPEND_SQL = (
    "SELECT out_position, out_stream_id, out_version, out_recorded_at "
    "FROM dockyard_append(%s::jsonb, %s::jsonb)"
)
# Append, then apply the objects projection to the appended range, in one statement (migration
# 0005): run in autocommit, the append lock is held for one execution and its commit.
_WRITE_OBJECTS_SQL = (
    "SELECT out_position, out_stream_id, out_version, out_recorded_at "
    "FROM dockyard_write_objects(%s::jsonb, %s::jsonb, %s::jsonb)"
)
WRITE_BATCH_SQL = "SELECT * FROM dockyard_write_batch(%s::jsonb)"
_COLUMNS = (
    "position, event_id, stream_id, version, type, schema_version, data, metadata, recorded_at"
)


def _row_to_event(row: Sequence[Any]) -> RecordedEvent:
    return RecordedEvent(
        position=row[0],
        event_id=row[1],
        stream_id=row[2],
        version=row[3],
        type=row[4],
        schema_version=row[5],
        data=row[6],
        metadata=row[7],
        recorded_at=row[8],
    )


def write_payload(
    events: Sequence[NewEvent],
    expected: Mapping[str, int] | None,
    required: Sequence[RequiredObject],
    *,
    project: bool,
) -> dict[str, Any]:
    """One write as ``statement`` and ``dockyard_write_batch`` take it."""
    for event in events:
        if event.type not in CATALOGUE:
            raise ValueError(f"event type {event.type!r} is not in the catalogue")
    documents = [
        {
            "event_id": str(e.event_id),
            "stream_id": e.stream_id,
            "type": e.type,
            "schema_version": e.schema_version,
            "data": e.data,
            "metadata": e.metadata,
        }
        for e in events
    ]
    return {
        "events": documents,
        "expected": dict(expected or {}),
        "require": [{"kind": r.kind, "namespace": r.namespace, "name": r.name} for r in required],
        "project": project,
    }


def recorded_events(
    events: Sequence[NewEvent], rows: Sequence[tuple[Any, ...]]
) -> list[RecordedEvent]:
    """The appended ``events`` with the (position, stream, version, recorded_at) rows the
    append returned for them."""
    return [
        RecordedEvent(
            position=row[0],
            event_id=event.event_id,
            stream_id=row[1],
            version=row[2],
            type=event.type,
            schema_version=event.schema_version,
            data=event.data,
            metadata=event.metadata,
            recorded_at=row[3],
        )
        for event, row in zip(events, rows, strict=True)
    ]


def settle_batch(batch: Sequence[PendingWrite], rows: Sequence[tuple[Any, ...]]) -> None:
    """Hand each write of a ``dockyard_write_batch`` call its rows or its error."""
    for index, position, stream, version, recorded_at, state, message, detail, key in rows:
        write = batch[index]
        if state is not None:
            write.error = batch_error(state, message, detail, key)
        else:
            write.rows.append((position, stream, version, recorded_at))


def statement(write: Mapping[str, Any]) -> tuple[str, tuple[Any, ...]]:
    """One write (as ``write_payload`` describes it) as a single function call."""
    params = (Jsonb(write["events"]), Jsonb(write["expected"]))
    if write["project"]:
        return _WRITE_OBJECTS_SQL, (*params, Jsonb(write["require"]))
    return _APPEND_SQL, params


class EventStore:
    """Appends to and reads from the event log. Safe to share between threads."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Standalone appends use autocommit connections of their own: the function call is its
        # own transaction, so an append is one round trip (no BEGIN, no COMMIT), and nothing
        # toggles a shared connection's mode back and forth.
        self._autocommit = create_engine(
            engine.url,
            isolation_level="AUTOCOMMIT",
            pool_reset_on_return=None,
            pool_size=engine.pool.size() if isinstance(engine.pool, QueuePool) else 5,
        )
        self._group = GroupCommit(self._run_batch)

    def dispose(self) -> None:
        """Close the store's own connections (the caller owns ``engine``)."""
        self._autocommit.dispose()

    @contextmanager
    def autocommit_connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled autocommit connection: each statement is its own transaction, one round
        trip, no BEGIN or COMMIT (for standalone appends and the reads before them)."""
        raw = self._autocommit.raw_connection()
        try:
            driver = raw.driver_connection
            assert isinstance(driver, psycopg.Connection)
            yield driver
        finally:
            raw.close()

    def append(
        self,
        events: Sequence[NewEvent],
        *,
        expected: Mapping[str, int] | None = None,
        conn: Connection | None = None,
    ) -> list[RecordedEvent]:
        """Append events to one or several streams in one transaction.

        ``expected`` maps a stream to the version its writer last saw (``NO_STREAM`` = 0 for a
        stream that must not exist yet); streams not named are appended to at any version. A
        stale expectation raises :class:`ConcurrencyError` and writes nothing. With ``conn``
        the append joins the caller's transaction (and holds the append lock until it ends:
        keep such transactions short).
        """
        return self._append(events, expected, [], conn, project=False)

    def append_and_project(
        self,
        events: Sequence[NewEvent],
        *,
        expected: Mapping[str, int] | None = None,
        require: Sequence[RequiredObject] = (),
        conn: Connection | None = None,
    ) -> list[RecordedEvent]:
        """``append``, then apply the objects projection to the appended range, in the same
        statement; first check that every ``require``d object exists and is not terminating
        (:class:`RequiredObjectMissing`, :class:`RequiredObjectTerminating`). A name already
        taken surfaces as the objects table's unique violation; nothing is written."""
        return self._append(events, expected, require, conn, project=True)

    def _append(
        self,
        events: Sequence[NewEvent],
        expected: Mapping[str, int] | None,
        required: Sequence[RequiredObject],
        conn: Connection | None,
        *,
        project: bool,
    ) -> list[RecordedEvent]:
        """Append (and ``project`` objects) in ``conn``'s transaction, or (no ``conn``) as one
        write of this process's next group-committed batch."""
        if not events:
            return []
        write = write_payload(events, expected, required, project=project)
        if conn is not None:
            sql, params = statement(write)
            rows = translate_errors(lambda: conn.exec_driver_sql(sql, params).fetchall())
        else:
            rows = self._group.write(write)
        return recorded_events(events, rows)

    def _run_batch(self, batch: Sequence[PendingWrite]) -> None:
        if len(batch) == 1:  # a lone write needs no subtransaction of its own
            self._run_one(batch[0])
            return
        payload = Jsonb([write.payload for write in batch])
        with self.autocommit_connection() as conn:
            settle_batch(batch, conn.execute(WRITE_BATCH_SQL, (payload,)).fetchall())

    def _run_one(self, write: PendingWrite) -> None:
        sql, params = statement(write.payload)
        with self.autocommit_connection() as conn:  # an error here is the write's own
            write.rows = translate_errors(lambda: conn.execute(sql, params).fetchall())

    def read_stream(
        self, stream_id: str, *, after_version: int = 0, conn: Connection | None = None
    ) -> list[RecordedEvent]:
        sql = (
            f"SELECT {_COLUMNS} FROM events WHERE stream_id = %s AND version > %s ORDER BY version"
        )
        return self._query(sql, (stream_id, after_version), conn)

    def stream_version(self, stream_id: str, *, conn: Connection | None = None) -> int:
        sql = "SELECT coalesce(max(version), 0) FROM events WHERE stream_id = %s"
        return int(self._scalar(sql, (stream_id,), conn))

    def read_all(
        self,
        *,
        after: int = 0,
        limit: int = 1000,
        types: Sequence[str] | None = None,
        until: int | None = None,
        conn: Connection | None = None,
    ) -> list[RecordedEvent]:
        """Events with ``after < position [<= until]`` in log order, at most ``limit``."""
        clauses = ["position > %s"]
        params: list[Any] = [after]
        if until is not None:
            clauses.append("position <= %s")
            params.append(until)
        if types is not None:
            clauses.append("type || '' = ANY(%s::text[])")  # not indexable: see the module doc
            params.append(list(types))
        sql = (
            f"SELECT {_COLUMNS} FROM events WHERE {' AND '.join(clauses)} "
            "ORDER BY position LIMIT %s"
        )
        params.append(limit)
        return self._query(sql, tuple(params), conn)

    def head_position(self, *, conn: Connection | None = None) -> int:
        """The newest committed position (0 for an empty log)."""
        return int(self._scalar("SELECT coalesce(max(position), 0) FROM events", (), conn))

    def _query(
        self, sql: str, params: tuple[Any, ...], conn: Connection | None
    ) -> list[RecordedEvent]:
        if conn is not None:
            return [_row_to_event(r) for r in conn.exec_driver_sql(sql, params).fetchall()]
        with self.engine.connect() as own:
            return [_row_to_event(r) for r in own.exec_driver_sql(sql, params).fetchall()]

    def _scalar(self, sql: str, params: tuple[Any, ...], conn: Connection | None) -> Any:
        if conn is not None:
            return conn.exec_driver_sql(sql, params).scalar_one()
        with self.engine.connect() as own:
            return own.exec_driver_sql(sql, params).scalar_one()
