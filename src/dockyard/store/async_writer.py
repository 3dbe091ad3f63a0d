"""``ObjectWriter``'s standalone create, update and get, awaited on an event loop.

The rules are the sync writer's (``change_steps``, ``object_event``, ``object_errors`` in
write_steps.py); only the I/O differs: ``AsyncEventStore`` instead of a thread's connection. Writes
inside a caller's transaction (``*_in``) stay on the sync writer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dockyard.store.append_errors import ConcurrencyError, RequiredObject
from dockyard.store.async_events import AsyncEventStore
from dockyard.store.catalogue import EventType
from dockyard.store.changes import (
    Actor,
    Change,
    JsonObject,
    ObjectKey,
    StoredObject,
    named_resource_version,
    new_object,
    update_of,
)
from dockyard.store.event_types import ObjectCreated, ObjectPayload
from dockyard.store.write_steps import (
    GET_SQL,
    ReadStep,
    Stepper,
    change_steps,
    object_errors,
    object_event,
)


class AsyncObjectWriter:
    def __init__(self, store: AsyncEventStore) -> None:
        self.store = store

    async def get(self, key: ObjectKey) -> StoredObject | None:
        row = await self.store.fetch_one(GET_SQL, (key.kind, key.namespace, key.name))
        return StoredObject(row[0], int(row[1]), row[2], int(row[3])) if row else None

    async def create(
        self,
        body: Mapping[str, Any],
        *,
        actor: Actor,
        verb: str = "create",
        require: Sequence[RequiredObject] = (),
    ) -> JsonObject:
        """``ObjectWriter.create``, awaited."""
        key = ObjectKey.of(body)
        return await self._write(
            ObjectCreated, key, new_object(body), actor, verb, None, 0, require
        )

    async def update(
        self,
        body: Mapping[str, Any],
        *,
        actor: Actor,
        verb: str = "update",
        status_only: bool = False,
        read: StoredObject | None = None,
    ) -> JsonObject:
        """``ObjectWriter.update``, awaited."""
        key = ObjectKey.of(body)
        return await self._change(
            key,
            lambda current: update_of(key, current, body, status_only=status_only),
            actor=actor,
            verb=verb,
            retry=named_resource_version(body) is None,
            read=read,
        )

    async def _change(
        self,
        key: ObjectKey,
        decide: Callable[[StoredObject | None], Change],
        *,
        actor: Actor,
        verb: str,
        retry: bool,
        read: StoredObject | None,
    ) -> JsonObject:
        run = Stepper(change_steps(key, decide, optimistic=True, retry=retry, read=read))
        while (step := run.next()) is not None:
            if isinstance(step, ReadStep):
                run.reply = await self.get(step.key)
                continue
            try:
                run.reply = await self._write(
                    step.event_type, key, step.obj, actor, verb, step.stream, step.expected_version
                )
            except ConcurrencyError as exc:
                run.failure = exc
        return run.result

    async def _write(
        self,
        event_type: EventType[ObjectPayload],
        key: ObjectKey,
        obj: JsonObject,
        actor: Actor,
        verb: str,
        stream: str | None,
        expected_version: int | None,
        require: Sequence[RequiredObject] = (),
    ) -> JsonObject:
        event, expected = object_event(event_type, obj, actor, verb, None, stream, expected_version)
        with object_errors(key):
            (recorded,) = await self.store.append_and_project(
                [event], expected=expected, require=require
            )
        obj["metadata"]["resourceVersion"] = str(recorded.position)
        return obj
