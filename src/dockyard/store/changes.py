"""What an object write means, decided without I/O: who writes, the errors a write can end in,
and the pure rules that turn a request and the stored object into the event to append
(server-owned fields, generation, status versus spec, graceful deletion, preconditions).
``ObjectWriter`` (writer.py) reads, calls these, and appends.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from dockyard.jsontree import json_copy
from dockyard.store.catalogue import EventType
from dockyard.store.event_types import (
    ObjectDeleted,
    ObjectDeletionRequested,
    ObjectPayload,
    ObjectStatusUpdated,
    ObjectUpdated,
)
from dockyard.store.preconditions import uid_failure

JsonObject = dict[str, Any]
# Optimistic writes re-read and retry this often when another writer got there first (only
# when the caller named no resourceVersion; otherwise the first conflict is the answer).
OPTIMISTIC_ATTEMPTS = 64
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


# What a write decides to append: an event type and the object after it, or nothing (the
# stored object is returned as it is).
Change: TypeAlias = StoredObject | tuple[EventType[ObjectPayload], JsonObject]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())  # a third of datetime's cost


def _strip_resource_version(body: JsonObject) -> JsonObject:
    body = json_copy(body)
    body.setdefault("metadata", {}).pop("resourceVersion", None)
    return body


def _merged(
    current: StoredObject, body: Mapping[str, Any], *, status_only: bool
) -> tuple[JsonObject, JsonObject]:
    """``(old, new)``: what an update of ``current`` with ``body`` stores (no resourceVersion)."""
    old = _strip_resource_version(current.body)
    new = _strip_resource_version(dict(body))
    if status_only:  # the status subresource changes status and nothing else
        merged = json_copy(old)
        merged["status"] = new.get("status")
        new = merged
    else:  # the main resource never changes status (Kubernetes' rule for subresources)
        if "status" in old:
            new["status"] = json_copy(old["status"])
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


def new_object(body: Mapping[str, Any]) -> JsonObject:
    """``body`` as a new object: fresh uid, creation time, generation 1, not terminating."""
    obj = _strip_resource_version(dict(body))
    meta = obj["metadata"]
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = _now()
    meta["generation"] = 1
    meta.pop("deletionTimestamp", None)
    return obj


def taken_key(detail: str) -> ObjectKey:
    """The key in a unique violation's detail: ``Key (kind, namespace, name)=(Pod, ns, x) ...``."""
    values = detail.partition(")=(")[2].partition(")")[0].split(", ")
    if len(values) != 3:
        return ObjectKey("Object", "", "?")
    return ObjectKey(values[0], values[1], values[2])


def per_body(causation: int | None | Sequence[int | None], count: int) -> list[int | None]:
    if causation is None or isinstance(causation, int):
        return [causation] * count
    if len(causation) != count:
        raise ValueError(f"{len(causation)} causations for {count} objects")
    return list(causation)


def unique_keys(bodies: Sequence[Mapping[str, Any]]) -> list[ObjectKey]:
    keys = [ObjectKey.of(body) for body in bodies]
    seen: set[ObjectKey] = set()
    for key in keys:
        if key in seen:
            raise ValueError(f'{key.resource} "{key.name}" appears twice in one batch')
        seen.add(key)
    return keys


def stamped(current: StoredObject) -> JsonObject:
    """The stored object as served: a copy with its resourceVersion."""
    body = json_copy(current.body)
    body["metadata"]["resourceVersion"] = str(current.resource_version)
    result: JsonObject = body
    return result


def named_resource_version(body: Mapping[str, Any]) -> str | None:
    wanted = (body.get("metadata") or {}).get("resourceVersion")
    return None if wanted in (None, "") else str(wanted)


def update_of(
    key: ObjectKey, current: StoredObject | None, body: Mapping[str, Any], *, status_only: bool
) -> Change:
    """What updating ``current`` with ``body`` appends: ``(event type, new object)``, or
    ``current`` itself when nothing changes. ``NotFound``/``Conflict`` when it cannot."""
    if current is None:
        raise NotFound(key.resource, key.name)
    failed = uid_failure((body.get("metadata") or {}).get("uid"), current.uid)
    if failed:
        raise Conflict(key.resource, key.name, failed)
    wanted_rv = named_resource_version(body)
    if wanted_rv is not None and wanted_rv != str(current.resource_version):
        raise Conflict(key.resource, key.name)
    old, new = _merged(current, body, status_only=status_only)
    if new == old:
        return current
    return (ObjectStatusUpdated if status_only else ObjectUpdated), new


def deletion_of(
    key: ObjectKey,
    current: StoredObject | None,
    graceful: bool,
    expected_rv: int | None,
    grace_period_seconds: int | None,
) -> Change:
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
