"""The database's answers to an append that a writer must handle, as Dockyard's exceptions.

``dockyard_append`` and ``dockyard_write_objects`` (the migrations) raise their own SQLSTATEs
for a stale expected version (DY409) and for an object a write requires that is missing
(DY404) or being terminated (DY410); the unique keys of the events and objects tables answer a
retried event id and a name another live object holds. Group commit (``dockyard_write_batch``)
reports each failed write as rows instead of raising; ``batch_error`` turns those rows into the
exception the direct path would have raised.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

CONFLICT_SQLSTATE = "DY409"
_MISSING_SQLSTATE = "DY404"
_TERMINATING_SQLSTATE = "DY410"
_UNIQUE_VIOLATION = "23505"


class ConcurrencyError(Exception):
    """A writer's expected stream version was stale; nothing was written."""

    def __init__(self, stream_id: str, expected: int, actual: int) -> None:
        super().__init__(
            f"stream {stream_id} is at version {actual}, not the expected {expected}: "
            "someone else changed it first; re-read and try again"
        )
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class DuplicateEventError(Exception):
    """An event with this event_id is already in the log (a retried append)."""


@dataclass(frozen=True)
class RequiredObject:
    """An object a write needs to exist and not be terminating (the namespace of a create)."""

    kind: str
    namespace: str
    name: str


class RequiredObjectMissing(LookupError):
    def __init__(self, required: RequiredObject) -> None:
        super().__init__(f'{required.kind} "{required.name}" not found')
        self.required = required


class RequiredObjectTerminating(Exception):
    def __init__(self, required: RequiredObject) -> None:
        super().__init__(f'{required.kind} "{required.name}" is being terminated')
        self.required = required


class ObjectNameTaken(Exception):
    """An object write would give a live object's (kind, namespace, name) to another uid."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail  # "Key (kind, namespace, name)=(Pod, ns, x) already exists."


_OBJECT_NAME_KEY = "objects_kind_namespace_name_key"


def _known_error(state: str, detail: str | None, constraint: str | None) -> Exception | None:
    """The Dockyard exception for a database error a writer must handle, if it is one."""
    detail = detail or ""
    if state == CONFLICT_SQLSTATE:
        stream, want, have = (detail or "||").rsplit("|", 2)
        return ConcurrencyError(stream, int(want), int(have))
    if state in (_MISSING_SQLSTATE, _TERMINATING_SQLSTATE):
        required = RequiredObject(*(detail.split("|", 2) + ["", "", ""])[:3])
        if state == _MISSING_SQLSTATE:
            return RequiredObjectMissing(required)
        return RequiredObjectTerminating(required)
    if state == _UNIQUE_VIOLATION and constraint == "events_event_id_key":
        return DuplicateEventError(detail)
    if state == _UNIQUE_VIOLATION and constraint == _OBJECT_NAME_KEY:
        return ObjectNameTaken(detail)
    return None


def translated_error(exc: Exception) -> Exception | None:
    """The Dockyard exception for a driver error raised by an append, if a writer must handle
    it (``_known_error``)."""
    cause = getattr(exc, "orig", exc)  # SQLAlchemy wraps driver errors; psycopg does not
    if isinstance(cause, psycopg.Error) and cause.diag.sqlstate is not None:
        diag = cause.diag
        return _known_error(str(diag.sqlstate), diag.message_detail, diag.constraint_name)
    return None


def translate_errors(call: Callable[[], Sequence[Any]]) -> list[tuple[Any, ...]]:
    """Run an append, turning the errors a writer must handle into Dockyard's own."""
    try:
        return [tuple(r) for r in call()]
    except Exception as exc:
        known = translated_error(exc)
        if known is not None:
            raise known from None
        raise


def batch_error(state: str, message: str, detail: str | None, constraint: str | None) -> Exception:
    """One failed write of a group-committed batch, as the direct path would have raised it."""
    known = _known_error(state, detail, constraint)
    if known is not None:
        return known
    try:
        error_class = psycopg.errors.lookup(state)
    except KeyError:
        error_class = psycopg.DatabaseError
    return error_class(f"{message} ({detail})" if detail else message)
