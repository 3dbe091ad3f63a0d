"""The write path for objects: every create, update and delete becomes one event.

Writes keep the ``objects`` read model current *in the same transaction* (an inline
projection), which gives read-your-writes to the API and enforces what the log alone cannot
cheaply: a name is unique among live objects of a kind in a namespace (the table's unique key),
and an update names the resourceVersion it read (the row is locked while it is compared).
The asynchronous projection runner re-applies the same events later and changes nothing.
Anything that fails rolls the whole transaction back: nothing is half-written.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from dockyard.store.catalogue import EventType
from dockyard.store.event_types import (
    ObjectCreated,
    ObjectDeleted,
    ObjectDeletionRequested,
    ObjectPayload,
    ObjectStatusUpdated,
    ObjectUpdated,
)
from dockyard.store.events import (
    ConcurrencyError,
    EventStore,
    NewEvent,
    ObjectNameTaken,
    RecordedEvent,
    RequiredObject,
    RequiredObjectMissing,
    RequiredObjectTerminating,
    new_event,
)
from dockyard.store.preconditions import uid_failure

JsonObject = dict[str, Any]
# Optimistic writes re-read and retry this often when another writer got there first (only
# when the caller named no resourceVersion; otherwise the first conflict is the answer).
_OPTIMISTIC_ATTEMPTS = 64
# Fields the server owns: a client's values are ignored (as Kubernetes does).
_SERVER_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "generation")


@dataclass(frozen=True)
class Actor:
    """Who is writing, and from where: recorded in every event's metadata."""

    name: str
    groups: tuple[str, ...] = ()
    source: str = "api"
    request_id: str | None = None
    client_address: str | None = None
    user_agent: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def metadata(self, verb: str, *, causation: int | None = None) -> JsonObject:
        meta: JsonObject = {
            "actor": self.name,
            "groups": list(self.groups),
            "source": self.source,
            "verb": verb,
        }
        for key, value in (
            ("request_id", self.request_id),
            ("client_address", self.client_address),
            ("user_agent", self.user_agent),
            ("causation", causation),
        ):
            if value is not None:
                meta[key] = value
        meta.update(self.extra)
        return meta


class ObjectError(Exception):
    """Base of the write path's errors; ``reason`` is the Kubernetes Status reason."""

    reason = "InternalError"
    code = 500


class NotFound(ObjectError):
    reason, code = "NotFound", 404

    def __init__(self, resource: str, name: str) -> None:
        super().__init__(f'{resource} "{name}" not found')


class AlreadyExists(ObjectError):
    reason, code = "AlreadyExists", 409

    def __init__(self, resource: str, name: str) -> None:
        super().__init__(f'{resource} "{name}" already exists')


class Terminating(ObjectError):
    """A create in a namespace (or under an object) that is being deleted."""

    reason, code = "Forbidden", 403

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(
            f"unable to create new content in {kind.lower()} {name} because it is being terminated"
        )
        self.kind = kind
        self.name = name


class Conflict(ObjectError):
    reason, code = "Conflict", 409

    def __init__(self, resource: str, name: str, detail: str = "") -> None:
        self.detail = detail  # e.g. a failed uid precondition (store/preconditions.py)
        super().__init__(
            f'Operation cannot be fulfilled on {resource} "{name}": '
            + (
                detail
                or "the object has been modified; please apply your changes to the latest "
                "version and try again"
            )
        )


@dataclass(frozen=True)
class ObjectKey:
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> ObjectKey:
        meta = body.get("metadata") or {}
        return cls(
            str(body.get("kind", "")), str(meta.get("namespace") or ""), str(meta.get("name", ""))
        )

    @property
    def resource(self) -> str:
        """How Kubernetes names the resource in messages: lower-case plural."""
        lower = self.kind.lower()
        return lower + ("es" if lower.endswith("s") else "s")


@dataclass(frozen=True)
class StoredObject:
    uid: str
    resource_version: int
    body: JsonObject
    stream_version: int = 0  # the version of the object's stream at resource_version


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _strip_resource_version(body: JsonObject) -> JsonObject:
    body = copy.deepcopy(body)
    body.setdefault("metadata", {}).pop("resourceVersion", None)
    return body


def _merged(
    current: StoredObject, body: Mapping[str, Any], *, status_only: bool
) -> tuple[JsonObject, JsonObject]:
    """``(old, new)``: what an update of ``current`` with ``body`` stores (no resourceVersion)."""
    old = _strip_resource_version(current.body)
    new = _strip_resource_version(dict(body))
    if status_only:  # the status subresource changes status and nothing else
        merged = copy.deepcopy(old)
        merged["status"] = new.get("status")
        new = merged
    else:  # the main resource never changes status (Kubernetes' rule for subresources)
        if "status" in old:
            new["status"] = copy.deepcopy(old["status"])
        else:
            new.pop("status", None)
    for name in _SERVER_FIELDS:
        if name in old["metadata"]:
            new["metadata"][name] = old["metadata"][name]
    if "deletionTimestamp" in old["metadata"]:
        new["metadata"]["deletionTimestamp"] = old["metadata"]["deletionTimestamp"]
    if new.get("spec") != old.get("spec"):
        new["metadata"]["generation"] = int(old["metadata"].get("generation", 1)) + 1
    return old, new


def _new_object(body: Mapping[str, Any]) -> JsonObject:
    """``body`` as a new object: fresh uid, creation time, generation 1, not terminating."""
    obj = _strip_resource_version(dict(body))
    meta = obj["metadata"]
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = _now()
    meta["generation"] = 1
    meta.pop("deletionTimestamp", None)
    return obj


def _taken_key(detail: str) -> ObjectKey:
    """The key in a unique violation's detail: ``Key (kind, namespace, name)=(Pod, ns, x) ...``."""
    values = detail.partition(")=(")[2].partition(")")[0].split(", ")
    if len(values) != 3:
        return ObjectKey("Object", "", "?")
    return ObjectKey(values[0], values[1], values[2])


def _per_body(causation: int | None | Sequence[int | None], count: int) -> list[int | None]:
    if causation is None or isinstance(causation, int):
        return [causation] * count
    if len(causation) != count:
        raise ValueError(f"{len(causation)} causations for {count} objects")
    return list(causation)


def _unique_keys(bodies: Sequence[Mapping[str, Any]]) -> list[ObjectKey]:
    keys = [ObjectKey.of(body) for body in bodies]
    seen: set[ObjectKey] = set()
    for key in keys:
        if key in seen:
            raise ValueError(f'{key.resource} "{key.name}" appears twice in one batch')
        seen.add(key)
    return keys


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
        sql = (
            "SELECT uid, resource_version, body, stream_version FROM objects "
            "WHERE kind = %s AND namespace = %s AND name = %s"
        )
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
            _new_object(body),
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
        obj = _new_object(body)
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
        for _attempt in range(_OPTIMISTIC_ATTEMPTS):
            current, read = (read, None) if read is not None else (self.get(key), None)
            change = _update_of(key, current, body, status_only=status_only)
            if isinstance(change, StoredObject):
                return self._stamped(change)
            event_type, new = change
            assert current is not None
            try:
                return self._write(
                    None,
                    event_type,
                    key,
                    new,
                    actor=actor,
                    verb=verb,
                    causation=causation,
                    stream=current.uid,
                    expected_version=current.stream_version,
                )
            except ConcurrencyError:
                if _named_resource_version(body) is not None:
                    break
        raise Conflict(key.resource, key.name)

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
        current = self.get(key, conn=conn, for_update=True)
        change = _update_of(key, current, body, status_only=status_only)
        if isinstance(change, StoredObject):
            return self._stamped(change)
        event_type, new = change
        assert current is not None
        return self._write(
            conn,
            event_type,
            key,
            new,
            actor=actor,
            verb=verb,
            causation=causation,
            stream=current.uid,
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
        for _attempt in range(_OPTIMISTIC_ATTEMPTS):
            current = self.get(key)
            change = _deletion_of(key, current, graceful, expected_rv, grace_period_seconds)
            if isinstance(change, StoredObject):
                return self._stamped(change)
            event_type, obj = change
            assert current is not None
            try:
                return self._write(
                    None,
                    event_type,
                    key,
                    obj,
                    actor=actor,
                    verb=verb,
                    causation=causation,
                    stream=current.uid,
                    expected_version=current.stream_version,
                )
            except ConcurrencyError:
                if expected_rv is not None:
                    break
        raise Conflict(key.resource, key.name)

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
        current = self.get(key, conn=conn, for_update=True)
        change = _deletion_of(key, current, graceful, expected_rv, grace_period_seconds)
        if isinstance(change, StoredObject):
            return self._stamped(change)
        event_type, obj = change
        assert current is not None
        return self._write(
            conn,
            event_type,
            key,
            obj,
            actor=actor,
            verb=verb,
            causation=causation,
            stream=current.uid,
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
        keys = _unique_keys(bodies)
        causations = _per_body(causation, len(bodies))
        existing = self.get_many(keys, conn=conn)
        for key in keys:
            if key in existing:
                raise AlreadyExists(key.resource, key.name)
        objects = [_new_object(body) for body in bodies]
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
        keys = _unique_keys(bodies)
        causations = _per_body(causation, len(bodies))
        current = self.get_many(keys, conn=conn, for_update=True)
        results: list[JsonObject | None] = []
        changed: list[tuple[int, ObjectKey, StoredObject, JsonObject]] = []
        if not keys:
            return []
        for index, (key, body) in enumerate(zip(keys, bodies, strict=True)):
            stored = current.get(key)
            change = _update_of(key, stored, body, status_only=status_only)
            if isinstance(change, StoredObject):
                results.append(self._stamped(change))
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

    @staticmethod
    def _stamped(current: StoredObject) -> JsonObject:
        body = copy.deepcopy(current.body)
        body["metadata"]["resourceVersion"] = str(current.resource_version)
        return body

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
        stream_id = stream or obj["metadata"]["uid"]
        event = new_event(
            event_type,
            stream_id,
            ObjectPayload(object=obj),
            metadata=actor.metadata(verb, causation=causation),
        )
        expected = {stream_id: expected_version} if expected_version is not None else None
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
        try:
            recorded = self.store.append_and_project(
                events, expected=expected, require=require, conn=conn
            )
        except RequiredObjectMissing as exc:
            missing = ObjectKey(exc.required.kind, "", exc.required.name)
            raise NotFound(missing.resource, missing.name) from None
        except RequiredObjectTerminating as exc:
            raise Terminating(exc.required.kind, exc.required.name) from None
        except ObjectNameTaken as exc:
            key = key or _taken_key(exc.detail)
            raise AlreadyExists(key.resource, key.name) from None
        return recorded


def _named_resource_version(body: Mapping[str, Any]) -> str | None:
    wanted = (body.get("metadata") or {}).get("resourceVersion")
    return None if wanted in (None, "") else str(wanted)


def _update_of(
    key: ObjectKey, current: StoredObject | None, body: Mapping[str, Any], *, status_only: bool
) -> StoredObject | tuple[EventType[ObjectPayload], JsonObject]:
    """What updating ``current`` with ``body`` appends: ``(event type, new object)``, or
    ``current`` itself when nothing changes. ``NotFound``/``Conflict`` when it cannot."""
    if current is None:
        raise NotFound(key.resource, key.name)
    failed = uid_failure((body.get("metadata") or {}).get("uid"), current.uid)
    if failed:
        raise Conflict(key.resource, key.name, failed)
    wanted_rv = _named_resource_version(body)
    if wanted_rv is not None and wanted_rv != str(current.resource_version):
        raise Conflict(key.resource, key.name)
    old, new = _merged(current, body, status_only=status_only)
    if new == old:
        return current
    return (ObjectStatusUpdated if status_only else ObjectUpdated), new


def _deletion_of(
    key: ObjectKey,
    current: StoredObject | None,
    graceful: bool,
    expected_rv: int | None,
    grace_period_seconds: int | None,
) -> StoredObject | tuple[EventType[ObjectPayload], JsonObject]:
    """What deleting ``current`` appends, or ``current`` when it is already terminating."""
    if current is None:
        raise NotFound(key.resource, key.name)
    if expected_rv is not None and expected_rv != current.resource_version:
        raise Conflict(key.resource, key.name)
    obj = _strip_resource_version(current.body)
    if not graceful:
        return ObjectDeleted, obj
    meta = obj["metadata"]
    recorded = meta.get("deletionGracePeriodSeconds")
    shorter = grace_period_seconds is not None and (
        recorded is None or grace_period_seconds < int(recorded)
    )
    if "deletionTimestamp" in meta and not shorter:
        return current  # already terminating
    meta.setdefault("deletionTimestamp", _now())
    if shorter:
        meta["deletionGracePeriodSeconds"] = grace_period_seconds
    return ObjectDeletionRequested, obj
