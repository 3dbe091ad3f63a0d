"""The ``objects`` read model: every live object as the API serves it.

One row per object (keyed by uid) with its identity, ``resource_version`` (the position of its
latest event), ``stream_version`` (that event's version in the object's stream, which optimistic
writers expect), generation, labels, spec, status, the full body and timestamps. Objects leave
the table when their ``ObjectDeleted`` event is applied; their history stays in the log.

The projection is set-based: object events carry the whole object, so a batch folds to "the
last event of each object in the range", which PostgreSQL computes and writes without the events
ever crossing into Python. That is what makes a rebuild fast (it replays wide ranges, so an
object updated many times is written once per range). The SQL lives in the database as
``dockyard_project_objects(after, until)`` (migrations 0005 and 0007) because writers also run
it inside ``dockyard_write_objects``, in the same statement as their append.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from dockyard.store.event_types import OBJECT_EVENT_TYPES
from dockyard.store.projections import EventBatch


class ObjectsProjection:
    name = "objects"
    tables: Sequence[str] = ("objects",)
    event_types: Sequence[str] | None = sorted(OBJECT_EVENT_TYPES)

    def apply(self, conn: Connection, batch: EventBatch) -> None:
        self.apply_range(conn, after=batch.after, until=batch.until)

    def apply_range(self, conn: Connection, *, after: int, until: int) -> None:
        conn.exec_driver_sql("SELECT dockyard_project_objects(%s, %s)", (after, until))
