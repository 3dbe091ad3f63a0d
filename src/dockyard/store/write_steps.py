"""The steps of a standalone object write, shared by the sync writer (writer.py) and the async
one (async_writer.py): what to read, what to append, and how the store's errors read. The
decisions are pure (``change_steps`` is a generator a driver feeds with each step's result);
each writer only carries out the steps with its own I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from dockyard.store.append_errors import (
    ConcurrencyError,
    ObjectNameTaken,
    RequiredObjectMissing,
    RequiredObjectTerminating,
)
from dockyard.store.catalogue import EventType
from dockyard.store.changes import (
    OPTIMISTIC_ATTEMPTS,
    Actor,
    AlreadyExists,
    Change,
    Conflict,
    JsonObject,
    NotFound,
    ObjectKey,
    StoredObject,
    Terminating,
    stamped,
    taken_key,
)
from dockyard.store.event_types import ObjectPayload
from dockyard.store.events import NewEvent, new_event

GET_SQL = (
    "SELECT uid, resource_version, body, stream_version FROM objects "
    "WHERE kind = %s AND namespace = %s AND name = %s"
)


@dataclass(frozen=True)
class ReadStep:
    """``change_steps`` asks for the object as stored (None: there is none)."""

    key: ObjectKey


@dataclass(frozen=True)
class AppendStep:
    """``change_steps`` asks to append ``obj``'s event; the reply is the stored object, or a
    ``ConcurrencyError`` thrown back in."""

    event_type: EventType[ObjectPayload]
    obj: JsonObject
    stream: str
    expected_version: int | None


ChangeSteps = Generator[ReadStep | AppendStep, Any, JsonObject]


def change_steps(
    key: ObjectKey,
    decide: Callable[[StoredObject | None], Change],
    *,
    optimistic: bool,
    retry: bool,
    read: StoredObject | None,
) -> ChangeSteps:
    """A change as steps for a driver to carry out (sync in ``ObjectWriter._change``, async in
    ``AsyncObjectWriter``): read, ``decide``, append. ``optimistic`` (no row lock) appends with
    the stream version read expected; a concurrent write then means a fresh read (``retry``)
    or ``Conflict``. ``read`` stands in for the first read."""
    for _attempt in range(OPTIMISTIC_ATTEMPTS if optimistic else 1):
        current: StoredObject | None = read
        read = None
        if current is None:
            current = yield ReadStep(key)
        change = decide(current)
        if isinstance(change, StoredObject):
            return stamped(change)
        event_type, obj = change
        assert current is not None
        expected = current.stream_version if optimistic else None
        try:
            written: JsonObject = yield AppendStep(event_type, obj, current.uid, expected)
            return written
        except ConcurrencyError:
            if not retry:
                break
    raise Conflict(key.resource, key.name)


class Stepper:
    """Drives ``change_steps``: ``next`` gives the step to carry out (None when done, with
    ``result`` set); the driver sets ``reply``, or ``failure`` to throw back in."""

    def __init__(self, steps: ChangeSteps) -> None:
        self.steps = steps
        self.reply: Any = None
        self.failure: ConcurrencyError | None = None
        self.result: JsonObject = {}

    def next(self) -> ReadStep | AppendStep | None:
        failure, self.failure = self.failure, None
        try:
            return self.steps.throw(failure) if failure else self.steps.send(self.reply)
        except StopIteration as done:
            self.result = done.value
            return None


def object_event(
    event_type: EventType[ObjectPayload],
    obj: JsonObject,
    actor: Actor,
    verb: str,
    causation: int | None,
    stream: str | None,
    expected_version: int | None,
) -> tuple[NewEvent, dict[str, int] | None]:
    """``obj``'s event (on its uid's stream unless ``stream``) and the expectation to append
    it with."""
    stream_id = stream or obj["metadata"]["uid"]
    event = new_event(
        event_type,
        stream_id,
        ObjectPayload(object=obj),
        metadata=actor.metadata(verb, causation=causation),
    )
    return event, {stream_id: expected_version} if expected_version is not None else None


@contextmanager
def object_errors(key: ObjectKey | None) -> Iterator[None]:
    """The store's errors for an object write, as the writer's own."""
    try:
        yield
    except RequiredObjectMissing as exc:
        missing = ObjectKey(exc.required.kind, "", exc.required.name)
        raise NotFound(missing.resource, missing.name) from None
    except RequiredObjectTerminating as exc:
        raise Terminating(exc.required.kind, exc.required.name) from None
    except ObjectNameTaken as exc:
        taken = key or taken_key(exc.detail)
        raise AlreadyExists(taken.resource, taken.name) from None
