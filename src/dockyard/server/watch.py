"""``?watch=1``: the event log, read from a resourceVersion, as Kubernetes watch events.

A watch is a read of the log after a position (the log keeps its history, so any old
resourceVersion resumes exactly: never 410 Gone). A watcher behind the :class:`LogHub`'s buffer
re-reads the log from its own position until it has caught up; one inside it -- plain, with
selectors, or as a Table -- takes its events from the hub, which reads the log once per wake-up
for every watcher of the process (server/loghub.py), and filters them for itself. Either way
they re-check at least every poll interval, so a lost notification delays an event, never
loses it.
Appends are serialized in commit order (store/events.py), so "the head I read, and everything
before it" is a stable prefix: a watcher that advanced to the head never misses a later commit.

Without a resourceVersion (or with ``0``) a watch starts with ``ADDED`` for every current object
(from the same snapshot a list would give) and continues from that snapshot's position.
Event mapping: ObjectCreated -> ADDED; ObjectUpdated, ObjectStatusUpdated,
ObjectDeletionRequested -> MODIFIED; ObjectDeleted -> DELETED (with the last state).
With a label or field selector, a change is judged against the object's state before it too
(the previous event of its stream), as Kubernetes' watch cache does: an object that stops
matching is sent as DELETED, one that starts matching as ADDED (:func:`selected_type`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool

from dockyard.server import tables
from dockyard.server.context import ApiContext, Call
from dockyard.server.loghub import WATCH_TYPES, LogHub, watch_line
from dockyard.server.reads import list_objects
from dockyard.server.selection import (
    parse_field_selector,
    parse_label_selector,
    parse_timeout,
)

JsonObject = dict[str, Any]
log = logging.getLogger(__name__)
_BATCH = 1000
DEFAULT_TIMEOUT = 1800.0


Change = tuple[int, str, JsonObject, JsonObject | None]


def read_changes(
    ctx: ApiContext, kind: str, namespace: str, after: int, *, with_previous: bool = False
) -> tuple[int, list[Change]]:
    """Object events of ``kind`` after ``after``; returns (new position, events).

    Each event is (position, type, object, previous state or None); the previous state is read
    (from the stream's unique (stream_id, version) index) only ``with_previous``.
    """
    previous = (
        "(SELECT p.data -> 'object' FROM events p WHERE p.stream_id = e.stream_id "
        "AND p.version < e.version AND p.type = ANY(%s) ORDER BY p.version DESC LIMIT 1)"
        if with_previous
        else "NULL::jsonb"
    )
    # (``type || ''``: the position range alone picks the rows; see store/events.py.)
    sql = (
        f"SELECT e.position, e.type, e.data -> 'object', {previous} FROM events e "
        "WHERE e.position > %s AND e.position <= %s AND e.type || '' = ANY(%s) "
        "AND e.data -> 'object' ->> 'kind' = %s"
    )
    with ctx.engine.connect() as conn:
        head = int(
            conn.exec_driver_sql("SELECT coalesce(max(position), 0) FROM events").scalar_one()
        )
        if head <= after:
            return after, []
        params: list[Any] = [list(WATCH_TYPES)] if with_previous else []
        params += [after, head, list(WATCH_TYPES), kind]
        if namespace:
            sql += " AND e.data -> 'object' -> 'metadata' ->> 'namespace' = %s"
            params.append(namespace)
        sql += " ORDER BY e.position LIMIT %s"
        rows = conn.exec_driver_sql(sql, (*params, _BATCH)).fetchall()
    if len(rows) == _BATCH:
        head = int(rows[-1][0])
    return head, [(int(r[0]), str(r[1]), r[2], r[3]) for r in rows]


def selected_type(event_type: str, matches_now: bool, matched_before: bool) -> str | None:
    """The watch event a selecting watcher gets for one change (None: nothing).

    ``matched_before`` is whether the object's state before this change matched (False for a
    creation). As Kubernetes: leaving the selection is DELETED, entering it ADDED.
    """
    kind = WATCH_TYPES[event_type]
    if kind != "MODIFIED":
        return kind if matches_now else None
    if matches_now:
        return "MODIFIED" if matched_before else "ADDED"
    return "DELETED" if matched_before else None


def stamp(obj: JsonObject, position: int) -> JsonObject:
    obj.setdefault("metadata", {})["resourceVersion"] = str(position)
    return obj


@dataclass(frozen=True)
class TableRows:
    """Renders one watched object as a one-row Table (``as=Table``). Frozen and hashable: the
    hub caches each event's encoded line per rendering, so equal renderings share it."""

    kind: str
    include_object: str
    api_version: str

    def __call__(self, obj: JsonObject) -> JsonObject:
        return tables.table(
            self.kind,
            [obj],
            resource_version=str(obj.get("metadata", {}).get("resourceVersion", "")),
            include_object=self.include_object,
            api_version=self.api_version,
        )


async def watch_events(
    ctx: ApiContext,
    hub: LogHub,
    call: Call,
    *,
    start: int | None,
    render: Callable[[JsonObject], JsonObject] | None = None,
) -> AsyncIterator[bytes]:
    """The watch stream: one JSON ``{"type", "object"}`` per line."""
    kind, namespace = call.resource.kind, call.namespace
    labels = parse_label_selector(call.query.get("labelSelector", ""))
    fields = parse_field_selector(call.query.get("fieldSelector", ""), kind)
    timeout = parse_timeout(call.query.get("timeoutSeconds")) or DEFAULT_TIMEOUT
    bookmarks = call.query.get("allowWatchBookmarks") == "true"
    deadline = time.monotonic() + timeout

    line = watch_line

    def show(obj: JsonObject) -> JsonObject:
        return obj if render is None else render(obj)

    def bookmark(position: int, initial_end: bool = False) -> bytes:
        meta: JsonObject = {"resourceVersion": str(position)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        api_version = call.resource.api_version
        return line("BOOKMARK", {"kind": kind, "apiVersion": api_version, "metadata": meta})

    position = start or 0
    if not start:
        page = await run_in_threadpool(list_objects, ctx, _without_paging(call))
        for item in page.items:
            yield line("ADDED", show(item))
        position = page.resource_version
        if call.query.get("sendInitialEvents") == "true" and bookmarks:
            yield bookmark(position, initial_end=True)
    last_bookmark = time.monotonic()
    selecting = not labels.empty or bool(fields.requirements)

    def selected(obj: JsonObject | None) -> bool:
        if obj is None:
            return False
        return labels.matches((obj.get("metadata") or {}).get("labels") or {}) and fields.matches(
            obj
        )

    with hub.attached():
        while (remaining := deadline - time.monotonic()) > 0:
            token = hub.token()
            if hub.covers(position):
                # Caught up: the hub has read the log once for every watcher of this process; each
                # watcher only filters (and the rendered lines are shared through the hub's cache).
                position, shared = hub.changes_after(position, kind, namespace)
                lines: list[bytes] = []
                for event in shared:
                    shared_type: str | None = WATCH_TYPES[event.type]
                    if selecting:
                        shared_type = selected_type(
                            event.type, selected(event.obj), selected(event.before)
                        )
                    if shared_type is not None:
                        lines.append(event.line(shared_type, render))
                if lines:  # one write for what one wake-up brought, not one per event
                    yield b"".join(lines)
                if bookmarks and time.monotonic() - last_bookmark >= ctx.bookmark_interval:
                    last_bookmark = time.monotonic()
                    yield bookmark(position)
                if not shared:
                    await hub.wait(token, min(remaining, ctx.poll_interval))
                continue
            position, changes = await run_in_threadpool(
                read_changes, ctx, kind, namespace, position, with_previous=selecting
            )
            for event_position, event_type, obj, before in changes:
                obj = stamp(obj, event_position)
                before_matched = selected(before) if selecting else True
                watch_type = selected_type(event_type, selected(obj), before_matched)
                if watch_type is not None:
                    yield line(watch_type, show(obj))
            if bookmarks and time.monotonic() - last_bookmark >= ctx.bookmark_interval:
                last_bookmark = time.monotonic()
                yield bookmark(position)
            if not changes:
                await hub.wait(token, min(remaining, ctx.poll_interval))


def _without_paging(call: Call) -> Call:
    query = {k: v for k, v in call.query.items() if k not in ("limit", "continue")}
    return Call(
        call.resource,
        call.namespace,
        None,
        None,
        call.user,
        call.actor,
        query,
        call.kubectl_command,
    )
