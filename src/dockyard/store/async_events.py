"""The event store's write path and object reads for code running on an event loop.

The API server handles requests on an event loop. Through ``EventStore`` a write costs a request
two thread hand-offs (into the thread pool and back) and, for a write that joins a running
group commit, a third (the leader waking it). Each of those hand-offs competes for the GIL with
every other request's thread, and on two cores at twenty concurrent clients that competition
was a large share of the server's CPU per write. Here a request's coroutine awaits the database
itself: writes go through ``AsyncGroupCommit`` on one connection of their own (the same
``dockyard_write_batch`` statements, the same durability), and reads use a few connections of
their own. Connections open on first use and reopen after a failure; ``close`` ends them.
Everything here belongs to the event loop it was first used on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from dockyard.store.append_errors import RequiredObject, translated_error
from dockyard.store.db import libpq_url
from dockyard.store.events import (
    WRITE_BATCH_SQL,
    NewEvent,
    RecordedEvent,
    recorded_events,
    settle_batch,
    statement,
    write_payload,
)
from dockyard.store.group_commit import AsyncGroupCommit, PendingWrite

Row = tuple[Any, ...]
AsyncConnection = psycopg.AsyncConnection[Row]


class AsyncEventStore:
    def __init__(self, url: str, *, readers: int = 4) -> None:
        self._url = libpq_url(url)
        self._writer: AsyncConnection | None = None
        self._group = AsyncGroupCommit(self._run_batch)
        self._idle: list[AsyncConnection] = []
        self._open: set[AsyncConnection] = set()
        self._readers = readers
        self._reader_slots: asyncio.Semaphore | None = None

    async def append_and_project(
        self,
        events: Sequence[NewEvent],
        *,
        expected: Mapping[str, int] | None = None,
        require: Sequence[RequiredObject] = (),
    ) -> list[RecordedEvent]:
        """``EventStore.append_and_project`` without a caller's transaction, awaited."""
        if not events:
            return []
        write = write_payload(events, expected, require, project=True)
        return recorded_events(events, await self._group.write(write))

    async def fetch_one(self, sql: str, params: Sequence[Any]) -> Row | None:
        async with self._reader() as conn:
            cursor = await conn.execute(sql, params)
            return await cursor.fetchone()

    async def close(self) -> None:
        for conn in [*self._open, *([self._writer] if self._writer else [])]:
            await conn.close()
        self._open.clear()
        self._idle.clear()
        self._writer = None
        self._reader_slots = None  # bound to this loop; a later one makes its own

    # -- internals --------------------------------------------------------------------------

    async def _connect(self) -> AsyncConnection:
        return await psycopg.AsyncConnection.connect(self._url, autocommit=True)

    async def _run_batch(self, batch: Sequence[PendingWrite]) -> None:
        if self._writer is None or self._writer.closed:
            self._writer = await self._connect()
        conn = self._writer
        try:
            if len(batch) == 1:  # a lone write needs no subtransaction of its own
                sql, params = statement(batch[0].payload)
                try:
                    cursor = await conn.execute(sql, params)
                except psycopg.Error as exc:
                    known = translated_error(exc)
                    if known is None:
                        raise
                    batch[0].error = known  # the write's own error: the connection is fine
                    return
                batch[0].rows = [tuple(row) for row in await cursor.fetchall()]
                return
            payload = Jsonb([write.payload for write in batch])
            cursor = await conn.execute(WRITE_BATCH_SQL, (payload,))
            settle_batch(batch, await cursor.fetchall())
        except psycopg.OperationalError:
            self._writer = None  # broken: the next batch reconnects
            await conn.close()
            raise

    @asynccontextmanager
    async def _reader(self) -> AsyncIterator[AsyncConnection]:
        if self._reader_slots is None:
            self._reader_slots = asyncio.Semaphore(self._readers)
        async with self._reader_slots:
            conn = self._idle.pop() if self._idle else None
            if conn is None or conn.closed:
                conn = await self._connect()
                self._open.add(conn)
            try:
                yield conn
            except BaseException:  # broken, or left mid-query by a cancellation: not reused
                self._open.discard(conn)
                await conn.close()
                raise
            self._idle.append(conn)
