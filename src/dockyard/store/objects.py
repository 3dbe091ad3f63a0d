"""The ``objects`` read model: every live object as the API serves it.

One row per object (keyed by uid) with its identity, ``resource_version`` (the position of its
latest event), generation, labels, spec, status, the full body and timestamps. Objects leave the
table when their ``ObjectDeleted`` event is applied; their history stays in the log.

The projection is set-based: object events carry the whole object, so a batch folds to "the
last event of each object in the range", which PostgreSQL computes and writes in two statements
without the events ever crossing into Python. That is what makes a rebuild fast.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from dockyard.store.event_types import OBJECT_EVENT_TYPES, ObjectDeleted
from dockyard.store.projections import EventBatch

# The last object event of each stream in the batch's range.
_LAST_IN_RANGE = """
SELECT DISTINCT ON (stream_id) position, stream_id, type, data -> 'object' AS obj, recorded_at
  FROM events
 WHERE position > %(after)s AND position <= %(until)s AND type = ANY(%(types)s)
 ORDER BY stream_id, position DESC
"""

_DELETE = f"""
DELETE FROM objects o
 USING ({_LAST_IN_RANGE}) last
 WHERE o.uid = last.stream_id AND last.type = %(deleted)s
   AND o.resource_version < last.position
"""

# Deletions run first: a name freed by a deleted uid may be taken by a new uid in the same
# batch, and (kind, namespace, name) is unique. The body is stamped with its resourceVersion
# (the position, which the writer could not know) and its uid (the stream).
_UPSERT = f"""
INSERT INTO objects (uid, api_version, kind, namespace, name, resource_version, generation,
                     labels, annotations, spec, status, body, created_at, updated_at,
                     deletion_timestamp)
SELECT last.stream_id,
       coalesce(obj ->> 'apiVersion', ''),
       coalesce(obj ->> 'kind', ''),
       coalesce(obj -> 'metadata' ->> 'namespace', ''),
       coalesce(obj -> 'metadata' ->> 'name', ''),
       last.position,
       coalesce((obj -> 'metadata' ->> 'generation')::bigint, 1),
       coalesce(obj -> 'metadata' -> 'labels', '{{}}'::jsonb),
       coalesce(obj -> 'metadata' -> 'annotations', '{{}}'::jsonb),
       obj -> 'spec',
       obj -> 'status',
       jsonb_set(obj, '{{metadata}}',
                 coalesce(obj -> 'metadata', '{{}}'::jsonb)
                 || jsonb_build_object('resourceVersion', last.position::text,
                                       'uid', last.stream_id)),
       coalesce((obj -> 'metadata' ->> 'creationTimestamp')::timestamptz, last.recorded_at),
       last.recorded_at,
       (obj -> 'metadata' ->> 'deletionTimestamp')::timestamptz
  FROM ({_LAST_IN_RANGE}) last
 WHERE last.type <> %(deleted)s
ON CONFLICT (uid) DO UPDATE SET
    api_version = EXCLUDED.api_version, kind = EXCLUDED.kind,
    namespace = EXCLUDED.namespace, name = EXCLUDED.name,
    resource_version = EXCLUDED.resource_version, generation = EXCLUDED.generation,
    labels = EXCLUDED.labels, annotations = EXCLUDED.annotations, spec = EXCLUDED.spec,
    status = EXCLUDED.status, body = EXCLUDED.body, updated_at = EXCLUDED.updated_at,
    deletion_timestamp = EXCLUDED.deletion_timestamp
WHERE objects.resource_version < EXCLUDED.resource_version
"""


class ObjectsProjection:
    name = "objects"
    tables: Sequence[str] = ("objects",)
    event_types: Sequence[str] | None = sorted(OBJECT_EVENT_TYPES)

    def apply(self, conn: Connection, batch: EventBatch) -> None:
        self.apply_range(conn, after=batch.after, until=batch.until)

    def apply_range(self, conn: Connection, *, after: int, until: int) -> None:
        params = {
            "after": after,
            "until": until,
            "types": list(self.event_types or ()),
            "deleted": ObjectDeleted.name,
        }
        conn.exec_driver_sql(_DELETE, params)
        conn.exec_driver_sql(_UPSERT, params)
