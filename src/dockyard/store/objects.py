"""The ``objects`` read model: every live object as the API serves it.

One row per object (keyed by uid) with its identity, ``resource_version`` (the position of its
latest event), generation, labels, spec, status, the full body and timestamps. Objects leave the
table when their ``ObjectDeleted`` event is applied; their history stays in the log.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import Connection

from dockyard.store.event_types import OBJECT_EVENT_TYPES, ObjectDeleted
from dockyard.store.events import RecordedEvent

_UPSERT = """
INSERT INTO objects (uid, api_version, kind, namespace, name, resource_version, generation,
                     labels, annotations, spec, status, body, created_at, updated_at,
                     deletion_timestamp)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (uid) DO UPDATE SET
    api_version = EXCLUDED.api_version, kind = EXCLUDED.kind,
    namespace = EXCLUDED.namespace, name = EXCLUDED.name,
    resource_version = EXCLUDED.resource_version, generation = EXCLUDED.generation,
    labels = EXCLUDED.labels, annotations = EXCLUDED.annotations, spec = EXCLUDED.spec,
    status = EXCLUDED.status, body = EXCLUDED.body, updated_at = EXCLUDED.updated_at,
    deletion_timestamp = EXCLUDED.deletion_timestamp
WHERE objects.resource_version < EXCLUDED.resource_version
"""


def _timestamp(value: Any, default: datetime | None) -> datetime | str | None:
    return value if isinstance(value, str) and value else default


def stamped_body(event: RecordedEvent) -> dict[str, Any]:
    """The object in an event, with ``metadata.resourceVersion`` set to the event's position."""
    body: dict[str, Any] = copy.deepcopy(event.data["object"])
    metadata = body.setdefault("metadata", {})
    metadata["resourceVersion"] = str(event.position)
    metadata.setdefault("uid", event.stream_id)
    return body


def _row(event: RecordedEvent) -> tuple[Any, ...]:
    body = stamped_body(event)
    metadata = body["metadata"]
    return (
        event.stream_id,
        body.get("apiVersion", ""),
        body.get("kind", ""),
        metadata.get("namespace") or "",
        metadata.get("name", ""),
        event.position,
        int(metadata.get("generation") or 1),
        Jsonb(metadata.get("labels") or {}),
        Jsonb(metadata.get("annotations") or {}),
        Jsonb(body.get("spec")) if "spec" in body else None,
        Jsonb(body.get("status")) if "status" in body else None,
        Jsonb(body),
        _timestamp(metadata.get("creationTimestamp"), event.recorded_at),
        event.recorded_at,
        _timestamp(metadata.get("deletionTimestamp"), None),
    )


class ObjectsProjection:
    name = "objects"
    tables: Sequence[str] = ("objects",)
    event_types: Sequence[str] | None = sorted(OBJECT_EVENT_TYPES)

    def apply(self, conn: Connection, events: Sequence[RecordedEvent]) -> None:
        # Fold the batch: only each object's last event matters, since events carry the
        # whole object. This keeps replay fast (one write per object per batch).
        last: dict[str, RecordedEvent] = {}
        for event in events:
            last.pop(event.stream_id, None)  # keep insertion order = order of last change
            last[event.stream_id] = event
        gone = [e.stream_id for e in last.values() if e.type == ObjectDeleted.name]
        live = [_row(e) for e in last.values() if e.type != ObjectDeleted.name]
        if gone:
            conn.exec_driver_sql("DELETE FROM objects WHERE uid = ANY(%s::text[])", (gone,))
        if live:
            # Deletions go first: a name freed by a deleted uid may be taken by a new uid in
            # the same batch, and (kind, namespace, name) is unique.
            conn.exec_driver_sql(_UPSERT, live)
