"""The write path for objects: every create, update and delete becomes one event.

Writes keep the ``objects`` read model current *in the same transaction* (an inline
projection), which gives read-your-writes to the API and enforces what the log alone cannot
cheaply: a name is unique among live objects of a kind in a namespace (the table's unique key),
and an update names the resourceVersion it read (the row is locked while it is compared).
The asynchronous projection runner re-applies the same events later and changes nothing.
Anything that fails rolls the whole transaction back: nothing is half-written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection

from dockyard.store.append_errors import ConcurrencyError, RequiredObject
from dockyard.store.catalogue import EventType
from dockyard.store.changes import (
    Actor,
    AlreadyExists,
    Change,
    Conflict,
    JsonObject,
    NotFound,
    ObjectError,
    ObjectKey,
    StoredObject,
    Terminating,
    deletion_of,
    named_resource_version,
    new_object,
    per_body,
    stamped,
    unique_keys,
    update_of,
)
from dockyard.store.event_types import (
    ObjectCreated,
    ObjectPayload,
    ObjectStatusUpdated,
    ObjectUpdated,
)
from dockyard.store.events import EventStore, NewEvent, RecordedEvent, new_event
from dockyard.store.write_steps import (
    GET_SQL,
    ReadStep,
    Stepper,
    change_steps,
    object_errors,
    object_event,
)

# Re-exported: callers import the write path's vocabulary from here.
__all__ = [
    "Actor",
    "AlreadyExists",
    "Conflict",
    "JsonObject",
    "NotFound",
    "ObjectError",
    "ObjectKey",
    "ObjectWriter",
    "StoredObject",
    "Terminating",
]


class ObjectWriter:
    """Creates, updates and deletes objects as events. Safe to share between threads.

    Two ways to write. ``create``/``update``/``delete`` stand alone: each is one statement in
    autocommit (``dockyard_write_objects``: append and project inside the append lock), and
    an update or delete that read the object without locking it appends with the stream
    version it read expected, re-reading on a concurrent write (optimistic concurrency). The
    ``*_in(conn, ...)`` variants join a caller's transaction: they lock the rows they read
    (``FOR UPDATE``) and check everything before writing, so an error leaves that transaction
    usable.
    """

    def __init__(self, store: EventStore) -> None:
        self.store = store

    # -- reads ------------------------------------------------------------------------------

    def get(
        self, key: ObjectKey, *, conn: Connection | None = None, for_update: bool = False
    ) -> StoredObject | None:
        sql = GET_SQL
        if for_update:
            sql += " FOR UPDATE"
        params = (key.kind, key.namespace, key.name)
        if conn is not None:
            row = conn.exec_driver_sql(sql, params).first()
        else:
            with self.store.autocommit_connection() as own:
                row = own.execute(sql, params).fetchone()
        return StoredObject(row[0], int(row[1]), row[2], int(row[3])) if row else None

    def get_many(
        self,
        keys: Sequence[ObjectKey],
        *,
        conn: Connection | None = None,
        for_update: bool = False,
    ) -> dict[ObjectKey, StoredObject]:
        """The stored objects among ``keys``, in one query (``for_update`` locks their rows in
        uid order, so two batch writers never deadlock on each other's rows)."""
        if not keys:
            return {}
        sql = (
            "SELECT o.kind, o.namespace, o.name, o.uid, o.resource_version, o.body, "
            "o.stream_version FROM objects o "
            "JOIN unnest(%s::text[], %s::text[], %s::text[]) AS k(kind, namespace, name) "
            "ON o.kind = k.kind AND o.namespace = k.namespace AND o.name = k.name"
        )
        if for_update:
            sql += " ORDER BY o.uid FOR UPDATE OF o"
        params = (
            [k.kind for k in keys],
            [k.namespace for k in keys],
            [k.name for k in keys],
        )
        if conn is not None:
            rows = conn.exec_driver_sql(sql, params).all()
        else:
            with self.store.autocommit_connection() as own:
                rows = own.execute(sql, params).fetchall()
        return {
            ObjectKey(str(kind), str(namespace), str(name)): StoredObject(
                str(uid), int(version), body, int(stream_version)
            )
            for kind, namespace, name, uid, version, body, stream_version in rows
        }

    # -- writes -----------------------------------------------------------------------------

    def create(
        self,
        body: Mapping[str, Any],
        *,
        actor: Actor,
        verb: str = "create",
        causation: int | None = None,
        require: Sequence[RequiredObject] = (),
    ) -> JsonObject:
        """Create in one statement. ``require`` names objects that must exist and not be
        terminating (the namespace): ``NotFound`` / ``Terminating`` otherwise."""
        key = ObjectKey.of(body)
        return self._write(
            None,
            ObjectCreated,
            key,
            new_object(body),
            actor=actor,
            verb=verb,
            causation=causation,
            expected_version=0,
            require=require,
        )

    def create_in(
        self,
        conn: Connection,
        body: Mapping[str, Any],
        *,
        actor: Actor,
        verb: str = "create",
        causation: int | None = None,
    ) -> JsonObject:
        key = ObjectKey.of(body)
        obj = new_object(body)
        if self.get(key, conn=conn) is not None:
            raise AlreadyExists(key.resource, key.name)
        return self._write(
            conn,
            ObjectCreated,
            key,
            obj,
            actor=actor,
            verb=verb,
            causation=causation,
            expected_version=0,
        )

    def update(
        self,
        body: Mapping[str, Any],
        *,
        actor: Actor,
        verb: str = "update",
        causation: int | None = None,
        status_only: bool = False,
        read: StoredObject | None = None,
    ) -> JsonObject:
        """``update_in`` without a transaction of the caller's: read, merge, and append with
        the read stream version expected; a concurrent write means ``Conflict`` when ``body``
        names a resourceVersion, and a fresh read and merge when it does not. ``read`` is the
        object as the caller just read it: the first attempt uses it instead of reading."""
        key = ObjectKey.of(body)
        return self._change(
            None,
            key,
            lambda current: update_of(key, current, body, status_only=status_only),
            actor=actor,
            verb=verb,
            causation=causation,
            retry=named_resource_version(body) is None,
            read=read,
        )

    def update_in(
        self,
        conn: Connection,
        body: Mapping[str, Any],
        *,
        actor: Actor,
        verb: str = "update",
        causation: int | None = None,
        status_only: bool = False,
    ) -> JsonObject:
        """Replace an object (or only its status). A resourceVersion in ``body`` must match.

        Returns the stored object; an update that changes nothing appends nothing.
        """
        key = ObjectKey.of(body)
        return self._change(
            conn,
            key,
            lambda current: update_of(key, current, body, status_only=status_only),
            actor=actor,
            verb=verb,
            causation=causation,
        )

    def delete(
        self,
        key: ObjectKey,
        *,
        actor: Actor,
        graceful: bool = False,
        expected_rv: int | None = None,
        verb: str = "delete",
        causation: int | None = None,
        grace_period_seconds: int | None = None,
    ) -> JsonObject:
        """``delete_in`` without a transaction of the caller's (optimistic, as ``update``)."""
        return self._change(
            None,
            key,
            lambda current: deletion_of(key, current, graceful, expected_rv, grace_period_seconds),
            actor=actor,
            verb=verb,
            causation=causation,
            retry=expected_rv is None,
        )

    def delete_in(
        self,
        conn: Connection,
        key: ObjectKey,
        *,
        actor: Actor,
        graceful: bool = False,
        expected_rv: int | None = None,
        verb: str = "delete",
        causation: int | None = None,
        grace_period_seconds: int | None = None,
    ) -> JsonObject:
        """Delete an object: at once, or (graceful) by setting deletionTimestamp first.

        A graceful deletion leaves the object in place, Terminating, until whoever owns its
        teardown (the node agent for pods, the namespace controller) deletes it for good.
        ``grace_period_seconds`` (graceful only) is recorded as ``deletionGracePeriodSeconds``;
        a shorter one than already recorded shortens a deletion in progress, as Kubernetes does.
        """
        return self._change(
            conn,
            key,
            lambda current: deletion_of(key, current, graceful, expected_rv, grace_period_seconds),
            actor=actor,
            verb=verb,
            causation=causation,
        )

    # -- batch writes ---------------------------------------------------------------------
    # Many objects in one transaction: one query locks or checks them all, one append call
    # records every event, one pass of the objects projection covers the range. Every check
    # runs before anything is written, so an error leaves the caller's transaction usable.

    def create_many_in(
        self,
        conn: Connection,
        bodies: Sequence[Mapping[str, Any]],
        *,
        actor: Actor,
        verb: str = "create",
        causation: int | None | Sequence[int | None] = None,
    ) -> list[JsonObject]:
        """``create_in`` for each body, in order, as one append. ``AlreadyExists`` if any name
        is taken (nothing is written); a name twice in ``bodies`` is a ``ValueError``.
        ``causation`` is one position for all, or one per body."""
        keys = unique_keys(bodies)
        causations = per_body(causation, len(bodies))
        existing = self.get_many(keys, conn=conn)
        for key in keys:
            if key in existing:
                raise AlreadyExists(key.resource, key.name)
        objects = [new_object(body) for body in bodies]
        events = [
            new_event(
                ObjectCreated,
                obj["metadata"]["uid"],
                ObjectPayload(object=obj),
                metadata=actor.metadata(verb, causation=cause),
            )
            for obj, cause in zip(objects, causations, strict=True)
        ]
        expected = {obj["metadata"]["uid"]: 0 for obj in objects}
        return self._write_many(conn, events, objects, keys, expected=expected)

    def update_many_in(
        self,
        conn: Connection,
        bodies: Sequence[Mapping[str, Any]],
        *,
        actor: Actor,
        verb: str = "update",
        causation: int | None | Sequence[int | None] = None,
        status_only: bool = False,
    ) -> list[JsonObject]:
        """``update_in`` for each body, in order, as one append; the rows are locked in one
        query. ``NotFound``/``Conflict`` for the first body that fails (nothing is written);
        a body that changes nothing appends nothing and comes back as stored. ``causation``
        is one position for all, or one per body."""
        keys = unique_keys(bodies)
        causations = per_body(causation, len(bodies))
        current = self.get_many(keys, conn=conn, for_update=True)
        results: list[JsonObject | None] = []
        changed: list[tuple[int, ObjectKey, StoredObject, JsonObject]] = []
        if not keys:
            return []
        for index, (key, body) in enumerate(zip(keys, bodies, strict=True)):
            stored = current.get(key)
            change = update_of(key, stored, body, status_only=status_only)
            if isinstance(change, StoredObject):
                results.append(stamped(change))
            else:
                assert stored is not None
                results.append(None)
                changed.append((index, key, stored, change[1]))
        if changed:
            event_type = ObjectStatusUpdated if status_only else ObjectUpdated
            events = [
                new_event(
                    event_type,
                    stored.uid,
                    ObjectPayload(object=new),
                    metadata=actor.metadata(verb, causation=causations[index]),
                )
                for index, _, stored, new in changed
            ]
            written = self._write_many(
                conn, events, [new for *_, new in changed], [key for _, key, _, _ in changed]
            )
            for (index, *_), obj in zip(changed, written, strict=True):
                results[index] = obj
        return [obj for obj in results if obj is not None]

    # -- internals --------------------------------------------------------------------------

    def _change(
        self,
        conn: Connection | None,
        key: ObjectKey,
        decide: Callable[[StoredObject | None], Change],
        *,
        actor: Actor,
        verb: str,
        causation: int | None,
        retry: bool = False,
        read: StoredObject | None = None,
    ) -> JsonObject:
        """Read the object, ``decide`` what to append, append it (``change_steps``). In
        ``conn``'s transaction the row is locked while we decide."""
        run = Stepper(change_steps(key, decide, optimistic=conn is None, retry=retry, read=read))
        while (step := run.next()) is not None:
            if isinstance(step, ReadStep):
                run.reply = self.get(step.key, conn=conn, for_update=conn is not None)
                continue
            try:
                run.reply = self._write(
                    conn,
                    step.event_type,
                    key,
                    step.obj,
                    actor=actor,
                    verb=verb,
                    causation=causation,
                    stream=step.stream,
                    expected_version=step.expected_version,
                )
            except ConcurrencyError as exc:
                run.failure = exc
        return run.result

    def _write(
        self,
        conn: Connection | None,
        event_type: EventType[ObjectPayload],
        key: ObjectKey,
        obj: JsonObject,
        *,
        actor: Actor,
        verb: str,
        causation: int | None,
        stream: str | None = None,
        expected_version: int | None = None,
        require: Sequence[RequiredObject] = (),
    ) -> JsonObject:
        """Append ``obj``'s event and project it: in ``conn``'s transaction, or (``None``) as
        one autocommit statement."""
        event, expected = object_event(
            event_type, obj, actor, verb, causation, stream, expected_version
        )
        (recorded,) = self._append(conn, [event], expected, key, require)
        obj["metadata"]["resourceVersion"] = str(recorded.position)
        return obj

    def _write_many(
        self,
        conn: Connection,
        events: Sequence[NewEvent],
        objects: Sequence[JsonObject],
        keys: Sequence[ObjectKey],
        *,
        expected: Mapping[str, int] | None = None,
    ) -> list[JsonObject]:
        if not events:
            return []
        recorded = self._append(conn, events, expected, keys[0] if len(keys) == 1 else None)
        for obj, event in zip(objects, recorded, strict=True):
            obj["metadata"]["resourceVersion"] = str(event.position)
        return list(objects)

    def _append(
        self,
        conn: Connection | None,
        events: Sequence[NewEvent],
        expected: Mapping[str, int] | None,
        key: ObjectKey | None,
        require: Sequence[RequiredObject] = (),
    ) -> list[RecordedEvent]:
        with object_errors(key):
            return self.store.append_and_project(
                events, expected=expected, require=require, conn=conn
            )
