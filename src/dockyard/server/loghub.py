"""One shared reader of the event log per server process, fanning object events out to watchers.

Without it every watcher re-read the log on every wake-up: 20 watchers meant 20 queries per
write, all in the thread pool, competing with the writes they watch. Instead the hub's task
``LISTEN``s on ``dockyard_watch``, where every object event arrives with its text (migration
0010): PostgreSQL delivers a listening connection the notifications of every transaction that
commits after its LISTEN, in commit order, and appends commit in position order
(store/events.py), so the notifications *are* the log's object events after the head the hub
read when it started listening -- nothing missed or repeated, and no query on the way from a
commit to a watcher. (An event too large for a notification comes as its position alone, and
the hub reads it.) The hub keeps the most recent events in a bounded buffer and wakes the
watchers. It runs on the server's event loop (psycopg's async connection): no thread, so an
event reaches its watchers without a hand-off between threads.

A watcher whose position lies inside the buffer's range takes its events from memory; one that
is behind it (an old resourceVersion, a burst larger than the buffer, or a hub that reconnected
and started afresh) reads the log itself until it has caught up. The buffer always covers a
contiguous range ``(floor, head]`` of positions, so reading from it is the same as reading the
log.

Each entry caches its encoded watch line per event type and rendering (plain JSON, or a Table
row for ``as=Table``), so 20 watchers of the same namespace encode each object once, not 20
times. Each update also carries the object's state before it (the stream's previous object
event, looked up once, by the notifying trigger): a watcher with a label or field selector
decides from the pair whether the object entered, changed within or left its selection, so
selecting watchers are served from the same buffer, each filtering for itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pydantic_core

from dockyard.store.db import libpq_url
from dockyard.store.event_types import (
    ObjectCreated,
    ObjectDeleted,
    ObjectDeletionRequested,
    ObjectStatusUpdated,
    ObjectUpdated,
)
from dockyard.store.events import WATCH_CHANNEL

JsonObject = dict[str, Any]
log = logging.getLogger(__name__)
WATCH_TYPES = {
    ObjectCreated.name: "ADDED",
    ObjectUpdated.name: "MODIFIED",
    ObjectStatusUpdated.name: "MODIFIED",
    ObjectDeletionRequested.name: "MODIFIED",
    ObjectDeleted.name: "DELETED",
}
DEFAULT_BUFFER = 5000
# Updates (MODIFIED) need the state before them for selecting watchers: one look-up on the
# stream's (stream_id, version) index per update, evaluated only for updates (CASE is lazy).
_UPDATE_TYPES = [name for name, watch_type in WATCH_TYPES.items() if watch_type == "MODIFIED"]
# The events whose notification carried only their position (too large for a payload).
_EVENTS_SQL = (
    "SELECT e.position, e.type, e.data -> 'object' AS object, "
    "CASE WHEN e.type = ANY(%(updates)s) THEN (SELECT p.data -> 'object' FROM events p "
    "WHERE p.stream_id = e.stream_id AND p.version < e.version AND p.type = ANY(%(types)s) "
    "ORDER BY p.version DESC LIMIT 1) END AS before "
    "FROM events e WHERE e.position = ANY(%(positions)s)"
)


def watch_line(watch_type: str, obj: JsonObject) -> bytes:
    return pydantic_core.to_json({"type": watch_type, "object": obj}) + b"\n"


Render = Callable[[JsonObject], JsonObject]


@dataclass
class HubEvent:
    """One object event as the hub read it; ``obj`` carries its resourceVersion already and
    is shared by every watcher: never mutate it (nor ``before``)."""

    position: int
    type: str
    kind: str
    namespace: str
    obj: JsonObject
    # The object's state before this event, for updates (None for creations and deletions,
    # whose watch type does not depend on it).
    before: JsonObject | None = None
    lines: dict[tuple[str, Render | None], bytes] = field(default_factory=dict)

    def line(self, watch_type: str, render: Render | None = None) -> bytes:
        """The encoded watch line; ``render`` (hashable: equal renderings share the cache)
        turns the object into what is sent, e.g. a Table."""
        encoded = self.lines.get((watch_type, render))
        if encoded is None:
            shown = self.obj if render is None else render(self.obj)
            encoded = self.lines[(watch_type, render)] = watch_line(watch_type, shown)
        return encoded


class LogHub:
    """Reads the log once per wake-up for every watcher of this process (see the module doc)."""

    def __init__(
        self, database_url: str, poll_interval: float, *, buffer_size: int = DEFAULT_BUFFER
    ) -> None:
        self._url = database_url
        self._poll = poll_interval
        self._buffer_size = buffer_size
        self._event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._buffer: deque[HubEvent] = deque()
        self._floor: int | None = None  # the buffer holds every object event in (floor, head]
        self._head = 0
        self._watchers = 0

    def start(self) -> None:
        """Start reading the log (call on the event loop)."""
        self._task = asyncio.get_running_loop().create_task(self._listen(), name="watch-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @contextlib.contextmanager
    def attached(self) -> Iterator[None]:
        """Held by each watcher served from the buffer (on the loop): while none is, the hub
        does not read the log's contents, only its head."""
        self._watchers += 1
        try:
            yield
        finally:
            self._watchers -= 1

    def token(self) -> asyncio.Event:
        """Take before reading; :meth:`wait` on it returns at the first wake-up after."""
        return self._event

    async def wait(self, token: asyncio.Event, timeout: float) -> None:
        # asyncio.timeout, not wait_for: every watcher waits after every wake-up, and wait_for
        # (3.11) wraps each wait in a task of its own.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await token.wait()

    def covers(self, position: int) -> bool:
        """Can the events after ``position`` be taken from memory? (Call on the loop.)"""
        return self._floor is not None and position >= self._floor

    def changes_after(self, position: int, kind: str, namespace: str) -> tuple[int, list[HubEvent]]:
        """Buffered events of ``kind`` (in ``namespace``, if given) after ``position``, and the
        new position. Only when :meth:`covers` ``position``; call on the loop."""
        if position >= self._head:
            return position, []
        found: list[HubEvent] = []
        # Walk back from the newest: a caught-up watcher looks at a few entries, not the buffer.
        for event in reversed(self._buffer):
            if event.position <= position:
                break
            if event.kind == kind and (not namespace or event.namespace == namespace):
                found.append(event)
        found.reverse()
        return self._head, found

    # -- reading the log --------------------------------------------------------------------

    def _publish(self, events: list[HubEvent], head: int, floor: int | None) -> None:
        if floor is not None:  # (re)connected: what came before is not known to be complete
            self._buffer.clear()
            self._floor = floor
        self._buffer.extend(events)
        while len(self._buffer) > self._buffer_size:
            dropped = self._buffer.popleft()
            self._floor = dropped.position
        self._head = max(self._head, head)
        self._wake()

    def _wake(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def _listen(self) -> None:
        while True:
            try:
                listener = await psycopg.AsyncConnection.connect(
                    libpq_url(self._url), autocommit=True
                )
            except (psycopg.Error, OSError):
                log.warning("watch hub cannot reach the database; retrying")
                await asyncio.sleep(self._poll)
                continue
            try:
                await listener.execute(f"LISTEN {WATCH_CHANNEL}")
                # Listening before reading the head: every object event after it is notified.
                head = await _head(listener)
                self._publish([], head, floor=head)
                while True:
                    received: list[str] = []
                    # One batch of what arrived (or nothing, after the poll interval: the wake
                    # lets watchers check their clocks).
                    async for notify in listener.notifies(timeout=self._poll, stop_after=1):
                        received.append(notify.payload)
                    await self._take(listener, received)
            except Exception:  # the connection broke (or worse): start afresh
                log.warning("watch hub lost its database connection; reconnecting")
            finally:
                await listener.close()

    async def _take(self, listener: psycopg.AsyncConnection[Any], payloads: list[str]) -> None:
        """Buffer the object events of one batch of notifications (``<position>|<event>``, or
        ``<position>`` for an event read here), then wake the watchers once."""
        fresh: list[tuple[int, str]] = []
        for payload in payloads:
            text, _, body = payload.partition("|")
            position = int(text)
            # At or before the head: committed before the hub read the head when it started.
            if position > self._head:
                fresh.append((position, body))
        if not fresh:
            self._publish([], self._head, None)
            return
        last = fresh[-1][0]
        if self._watchers == 0:
            # Nobody to serve: skip decoding what was written, and start the buffer afresh
            # here. A watcher that attaches meanwhile starts behind the new floor and reads the
            # log itself until it has caught up.
            self._publish([], last, floor=last)
            return
        unsent = [position for position, body in fresh if not body]
        read = await read_events(listener, unsent) if unsent else {}
        rows = [_row(position, body) if body else read.get(position) for position, body in fresh]
        self._publish(list(_hub_events(row for row in rows if row is not None)), last, None)


async def read_events(
    conn: psycopg.AsyncConnection[Any], positions: list[int]
) -> dict[int, tuple[Any, ...]]:
    """The object events at ``positions`` (those whose notification carried only their
    position), as (position, type, object, before) by position."""
    params = {"updates": _UPDATE_TYPES, "types": list(WATCH_TYPES), "positions": positions}
    cursor = await conn.execute(_EVENTS_SQL, params)
    return {int(row[0]): tuple(row) for row in await cursor.fetchall()}


def _row(position: int, body: str) -> tuple[Any, ...]:
    event = json.loads(body)
    return position, event["type"], event["object"], event["before"]


async def _head(conn: psycopg.AsyncConnection[Any]) -> int:
    cursor = await conn.execute("SELECT coalesce(max(position), 0) FROM events")
    row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


def _hub_events(rows: Iterable[Any]) -> Iterable[HubEvent]:
    for position, event_type, obj, before in rows:
        if not isinstance(obj, dict):
            continue
        meta = obj.setdefault("metadata", {})
        meta["resourceVersion"] = str(position)
        yield HubEvent(
            int(position),
            str(event_type),
            str(obj.get("kind", "")),
            str(meta.get("namespace") or ""),
            obj,
            before if isinstance(before, dict) else None,
        )
