"""The audit read models: container restarts and runs (``pod_restarts``, ``container_runs``)
and each desired-state change's paths (``audit_log.changes``).

A restart is not visible in one event: it is a Pod status update whose container's
``restartCount`` is higher than in the pod's previous version. Finding that needs the previous
version, which no index on the log can answer for a million events in 100 ms, so the facts are
folded here, asynchronously, into small indexed tables. Appends pay nothing for them. Likewise
a change's paths need the previous version and a recursive JSON diff (~0.2 ms per event): stored
once here, ``audit_log`` reads them instead of diffing every version a query touches.

Both projections are set-based (one statement per batch, nothing crosses into Python) and
idempotent: a replayed event changes nothing, so a rebuild equals the live tables.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from dockyard.store.event_types import (
    OBJECT_EVENT_TYPES,
    ObjectCreated,
    ObjectDeleted,
    ObjectDeletionRequested,
    ObjectUpdated,
)
from dockyard.store.projections import EventBatch

# (``type || ''`` here and below: the position range alone picks the rows; see
# store/events.py.)
_POD_EVENTS = """
SELECT e.position, e.stream_id, e.version, e.recorded_at, e.data -> 'object' AS obj
  FROM events e
 WHERE e.position > %(after)s AND e.position <= %(until)s
   AND e.type || '' = ANY(%(types)s) AND e.data -> 'object' ->> 'kind' = 'Pod'
"""
_STATUSES = """
coalesce({obj} -> 'status' -> 'initContainerStatuses', '[]'::jsonb)
|| coalesce({obj} -> 'status' -> 'containerStatuses', '[]'::jsonb)
"""

_RESTARTS = f"""
WITH cur AS (
    SELECT ev.*, c AS cs
      FROM ({_POD_EVENTS}) ev,
           jsonb_array_elements({_STATUSES.format(obj="ev.obj")}) c
)
INSERT INTO audit_restarts (position, container, time, pod_uid, namespace, pod, node,
                            owner_kind, owner_name, workload_kind, workload_name,
                            restart_count, exit_code, signal, reason, message,
                            started_at, finished_at, image)
SELECT cur.position, cur.cs ->> 'name', cur.recorded_at, cur.stream_id,
       coalesce(cur.obj -> 'metadata' ->> 'namespace', ''), cur.obj -> 'metadata' ->> 'name',
       cur.obj -> 'spec' ->> 'nodeName',
       owner.kind, owner.name,
       coalesce(workload.kind, owner.kind), coalesce(workload.name, owner.name),
       (cur.cs ->> 'restartCount')::integer,
       (t.term ->> 'exitCode')::integer, (t.term ->> 'signal')::integer,
       t.term ->> 'reason', t.term ->> 'message',
       (t.term ->> 'startedAt')::timestamptz, (t.term ->> 'finishedAt')::timestamptz,
       cur.cs ->> 'image'
  FROM cur
 CROSS JOIN LATERAL (SELECT cur.cs -> 'lastState' -> 'terminated' AS term) t
  LEFT JOIN LATERAL (
        SELECT (x ->> 'restartCount')::integer AS restart_count
          FROM events p, jsonb_array_elements({_STATUSES.format(obj="(p.data -> 'object')")}) x
         WHERE p.stream_id = cur.stream_id AND p.version < cur.version
           AND p.type = ANY(%(object_types)s) AND x ->> 'name' = cur.cs ->> 'name'
         ORDER BY p.version DESC LIMIT 1) prev ON true
  LEFT JOIN LATERAL (
        SELECT r ->> 'kind' AS kind, r ->> 'name' AS name
          FROM jsonb_array_elements(
               coalesce(cur.obj -> 'metadata' -> 'ownerReferences', '[]'::jsonb)) r
         ORDER BY (r ->> 'controller')::boolean DESC NULLS LAST LIMIT 1) owner ON true
  -- A ReplicaSet's own controller (its Deployment) is the workload people ask about.
  LEFT JOIN LATERAL (
        SELECT r ->> 'kind' AS kind, r ->> 'name' AS name
          FROM events o,
               jsonb_array_elements(
                   coalesce(o.data -> 'object' -> 'metadata' -> 'ownerReferences',
                            '[]'::jsonb)) r
         WHERE owner.kind = 'ReplicaSet'
           AND o.type IN ('ObjectCreated', 'ObjectUpdated', 'ObjectDeletionRequested',
                          'ObjectDeleted')
           AND (o.data -> 'object' ->> 'kind') = 'ReplicaSet'
           AND coalesce(o.data -> 'object' -> 'metadata' ->> 'namespace', '')
               = coalesce(cur.obj -> 'metadata' ->> 'namespace', '')
           AND (o.data -> 'object' -> 'metadata' ->> 'name') = owner.name
           AND o.position <= cur.position
         ORDER BY o.position DESC, (r ->> 'controller')::boolean DESC NULLS LAST
         LIMIT 1) workload ON true
 WHERE (cur.cs ->> 'restartCount')::integer > coalesce(prev.restart_count, 0)
ON CONFLICT (position, container) DO NOTHING
"""

_RUNS = f"""
WITH observed AS (
    SELECT ev.position, ev.stream_id, ev.obj, c ->> 'name' AS container,
           c ->> 'image' AS image, s.which,
           coalesce(s.st -> 'running' ->> 'startedAt',
                    s.st -> 'terminated' ->> 'startedAt')::timestamptz AS started_at,
           (s.st -> 'terminated' ->> 'finishedAt')::timestamptz AS finished_at,
           (s.st -> 'terminated' ->> 'exitCode')::integer AS exit_code,
           (s.st -> 'terminated' ->> 'signal')::integer AS signal,
           s.st -> 'terminated' ->> 'reason' AS reason,
           coalesce(s.st -> 'terminated' ->> 'containerID',
                    CASE WHEN s.which = 'state' THEN c ->> 'containerID' END) AS container_id,
           CASE WHEN s.which = 'state' THEN (c ->> 'restartCount')::integer
                WHEN c -> 'state' ? 'running' THEN (c ->> 'restartCount')::integer - 1
           END AS attempt
      FROM ({_POD_EVENTS}) ev,
           jsonb_array_elements({_STATUSES.format(obj="ev.obj")}) c,
           LATERAL (VALUES ('state', c -> 'state'), ('lastState', c -> 'lastState')) s(which, st)
), keyed AS (
    SELECT observed.*,
           min(position) OVER (PARTITION BY stream_id, container, started_at) AS first_position,
           max(position) OVER (PARTITION BY stream_id, container, started_at) AS last_position
      FROM observed
     WHERE started_at IS NOT NULL
)
INSERT INTO audit_container_runs (pod_uid, container, started_at, finished_at, namespace, pod,
                                  node, image, container_id, attempt, exit_code, signal,
                                  reason, first_position, last_position)
SELECT DISTINCT ON (stream_id, container, started_at)
       stream_id, container, started_at, finished_at,
       coalesce(obj -> 'metadata' ->> 'namespace', ''), obj -> 'metadata' ->> 'name',
       obj -> 'spec' ->> 'nodeName', image, container_id, attempt, exit_code, signal, reason,
       first_position, last_position
  FROM keyed
 ORDER BY stream_id, container, started_at, (finished_at IS NOT NULL) DESC, position DESC
ON CONFLICT (pod_uid, container, started_at) DO UPDATE SET
    finished_at = coalesce(audit_container_runs.finished_at, EXCLUDED.finished_at),
    exit_code = coalesce(audit_container_runs.exit_code, EXCLUDED.exit_code),
    signal = coalesce(audit_container_runs.signal, EXCLUDED.signal),
    reason = coalesce(audit_container_runs.reason, EXCLUDED.reason),
    container_id = coalesce(audit_container_runs.container_id, EXCLUDED.container_id),
    attempt = coalesce(audit_container_runs.attempt, EXCLUDED.attempt),
    node = coalesce(audit_container_runs.node, EXCLUDED.node),
    first_position = least(audit_container_runs.first_position, EXCLUDED.first_position),
    last_position = greatest(audit_container_runs.last_position, EXCLUDED.last_position)
"""


class ContainerRestartsProjection:
    """``audit_restarts``: one row per container restart (behind the ``pod_restarts`` view)."""

    name = "audit_restarts"
    tables: Sequence[str] = ("audit_restarts",)
    event_types: Sequence[str] | None = ("ObjectStatusUpdated",)

    def apply(self, conn: Connection, batch: EventBatch) -> None:
        params = {
            "after": batch.after,
            "until": batch.until,
            "types": ["ObjectStatusUpdated"],
            "object_types": sorted(OBJECT_EVENT_TYPES),
        }
        conn.exec_driver_sql(_RESTARTS, params)


class ContainerRunsProjection:
    """``audit_container_runs``: one row per container run (behind ``container_runs``)."""

    name = "audit_container_runs"
    tables: Sequence[str] = ("audit_container_runs",)
    event_types: Sequence[str] | None = tuple(sorted(OBJECT_EVENT_TYPES))

    def apply(self, conn: Connection, batch: EventBatch) -> None:
        params = {"after": batch.after, "until": batch.until, "types": sorted(OBJECT_EVENT_TYPES)}
        conn.exec_driver_sql(_RUNS, params)


_DESIRED_TYPES = tuple(
    t.name for t in (ObjectCreated, ObjectUpdated, ObjectDeletionRequested, ObjectDeleted)
)

# The same previous version and diff that audit_log computes when a row is not stored yet.
_CHANGES = """
INSERT INTO audit_changes (position, changes)
SELECT e.position, dockyard_json_diff(prev.object, e.data -> 'object')
  FROM events e
  LEFT JOIN LATERAL (
        SELECT p.data -> 'object' AS object
          FROM events p
         WHERE p.stream_id = e.stream_id AND p.version < e.version
           AND p.type = ANY(%(object_types)s)
         ORDER BY p.version DESC LIMIT 1) prev ON true
 WHERE e.position > %(after)s AND e.position <= %(until)s
   AND e.type || '' = ANY(%(types)s)
ON CONFLICT (position) DO NOTHING
"""


class AuditChangesProjection:
    """``audit_changes``: each desired-state change's paths (``audit_log.changes``)."""

    name = "audit_changes"
    tables: Sequence[str] = ("audit_changes",)
    event_types: Sequence[str] | None = _DESIRED_TYPES

    def apply(self, conn: Connection, batch: EventBatch) -> None:
        params = {
            "after": batch.after,
            "until": batch.until,
            "types": list(_DESIRED_TYPES),
            "object_types": sorted(OBJECT_EVENT_TYPES),
        }
        conn.exec_driver_sql(_CHANGES, params)
