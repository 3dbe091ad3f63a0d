"""The audit recipes of docs/audit.md, as data: the tests run them, the benchmark times them.

Parameters are psycopg named parameters (``%(namespace)s``); in psql write the values in.
``raw`` answers the same question from the events table alone, without the views' indexes or
derived tables (the benchmark's baseline).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Recipe:
    key: str
    question: str
    sql: str
    raw: str | None = None


_RAW_RESTARTS = """
WITH s AS (
    SELECT e.recorded_at AS time, e.stream_id AS pod_uid,
           coalesce(e.data -> 'object' -> 'metadata' ->> 'namespace', '') AS namespace,
           e.data -> 'object' -> 'metadata' ->> 'name' AS pod,
           e.data -> 'object' -> 'spec' ->> 'nodeName' AS node,
           c ->> 'name' AS container, (c ->> 'restartCount')::int AS restart_count,
           c -> 'lastState' -> 'terminated' ->> 'reason' AS reason,
           lag((c ->> 'restartCount')::int) OVER (
               PARTITION BY e.stream_id, c ->> 'name' ORDER BY e.version) AS previous
      FROM events e,
           jsonb_array_elements(coalesce(e.data -> 'object' -> 'status' -> 'containerStatuses',
                                         '[]'::jsonb)) c
     WHERE e.type = 'ObjectStatusUpdated' AND e.data -> 'object' ->> 'kind' = 'Pod'
)
SELECT * FROM s WHERE restart_count > coalesce(previous, 0)
"""

RECIPES: tuple[Recipe, ...] = (
    Recipe(
        "scaled_to_zero",
        "Who scaled a deployment to zero?",
        """SELECT time, actor, verb, request_id, client_address
  FROM audit_log
 WHERE kind = 'Deployment' AND namespace = %(namespace)s AND name = %(name)s
   AND changes @> '[{"path": "spec.replicas", "new": 0}]'
 ORDER BY position""",
        """SELECT e.recorded_at, e.metadata ->> 'actor'
  FROM events e
  JOIN events p ON p.stream_id = e.stream_id AND p.version = e.version - 1
 WHERE e.type = 'ObjectUpdated'
   AND e.data -> 'object' ->> 'kind' = 'Deployment'
   AND e.data -> 'object' -> 'metadata' ->> 'namespace' = %(namespace)s
   AND e.data -> 'object' -> 'metadata' ->> 'name' = %(name)s
   AND (e.data -> 'object' -> 'spec' ->> 'replicas')::int = 0
   AND (p.data -> 'object' -> 'spec' ->> 'replicas')::int <> 0""",
    ),
    Recipe(
        "namespace_window",
        "Every change to a namespace in a time window",
        """SELECT time, actor, verb, kind, name, changes
  FROM audit_log
 WHERE namespace = %(namespace)s AND time >= %(since)s AND time < %(until)s
 ORDER BY position""",
        """SELECT e.recorded_at, e.metadata ->> 'actor', e.type
  FROM events e
 WHERE e.type <> 'ObjectStatusUpdated'
   AND e.data -> 'object' -> 'metadata' ->> 'namespace' = %(namespace)s
   AND e.recorded_at >= %(since)s AND e.recorded_at < %(until)s""",
    ),
    Recipe(
        "restarts_per_deployment_hour",
        "Restarts per deployment per hour",
        """SELECT workload_name AS deployment, date_trunc('hour', time) AS hour,
       count(*) AS restarts
  FROM pod_restarts
 WHERE namespace = %(namespace)s AND workload_kind = 'Deployment' AND time >= %(since)s
 GROUP BY 1, 2
 ORDER BY 2, 1""",
        f"""SELECT pod, date_trunc('hour', time), count(*)
  FROM ({_RAW_RESTARTS}) r
 WHERE namespace = %(namespace)s AND time >= %(since)s
 GROUP BY 1, 2""",
    ),
    Recipe(
        "top_crash_looping",
        "The top crash-looping containers this week, with their exit reasons",
        """WITH top AS (
    SELECT namespace, pod, container, count(*) AS restarts, max(time) AS last_restart
      FROM pod_restarts
     WHERE time >= now() - interval '7 days'
     GROUP BY namespace, pod, container
     ORDER BY restarts DESC, namespace, pod, container
     LIMIT 10
)
-- Reasons for the ten winners only: array_agg(DISTINCT) over every group sorts them all.
SELECT top.namespace, top.pod, top.container, top.restarts,
       (SELECT array_agg(DISTINCT r.reason) FROM pod_restarts r
         WHERE r.namespace = top.namespace AND r.pod = top.pod
           AND r.container = top.container AND r.time >= now() - interval '7 days') AS reasons,
       top.last_restart
  FROM top
 ORDER BY top.restarts DESC, top.namespace, top.pod, top.container""",
        f"""SELECT namespace, pod, container, count(*), array_agg(DISTINCT reason)
  FROM ({_RAW_RESTARTS}) r
 WHERE time >= now() - interval '7 days'
 GROUP BY 1, 2, 3 ORDER BY 4 DESC LIMIT 10""",
    ),
    Recipe(
        "image_at",
        "Which image each pod ran at a given time",
        """SELECT pod, container, image, started_at
  FROM container_runs
 WHERE tstzrange(started_at, finished_at, '[)') @> %(at)s::timestamptz
   AND namespace = %(namespace)s
 ORDER BY pod, container""",
        """SELECT DISTINCT ON (e.stream_id, c ->> 'name')
       e.data -> 'object' -> 'metadata' ->> 'name', c ->> 'name', c ->> 'image'
  FROM events e,
       jsonb_array_elements(e.data -> 'object' -> 'status' -> 'containerStatuses') c
 WHERE e.type = 'ObjectStatusUpdated' AND e.data -> 'object' ->> 'kind' = 'Pod'
   AND e.data -> 'object' -> 'metadata' ->> 'namespace' = %(namespace)s
   AND e.recorded_at <= %(at)s
 ORDER BY e.stream_id, c ->> 'name', e.version DESC""",
    ),
    Recipe(
        "changes_before_crash_loop",
        "What changed in the ten minutes before a crash loop began",
        """WITH began AS (
    SELECT min(time) AS at FROM pod_restarts
     WHERE namespace = %(namespace)s AND pod = %(pod)s
)
SELECT a.time, a.actor, a.verb, a.kind, a.name, a.changes
  FROM audit_log a, began
 WHERE a.namespace = %(namespace)s
   AND a.time >= began.at - %(window)s::interval AND a.time < began.at
 ORDER BY a.position""",
        f"""WITH began AS (
    SELECT min(time) AS at FROM ({_RAW_RESTARTS}) r
     WHERE namespace = %(namespace)s AND pod = %(pod)s
)
SELECT e.recorded_at, e.metadata ->> 'actor'
  FROM events e, began
 WHERE e.type <> 'ObjectStatusUpdated'
   AND e.data -> 'object' -> 'metadata' ->> 'namespace' = %(namespace)s
   AND e.recorded_at >= began.at - %(window)s::interval AND e.recorded_at < began.at""",
    ),
    Recipe(
        "rollout_to_first_restart",
        "Time between a rollout and its first restart",
        """SELECT ro.time AS rolled_out_at, ro.actor, first.at AS first_restart,
       first.at - ro.time AS until_first_restart
  FROM audit_log ro
  LEFT JOIN LATERAL (
        SELECT min(r.time) AS at FROM pod_restarts r
         WHERE r.namespace = ro.namespace AND r.workload_name = ro.name
           AND r.time > ro.time) first ON true
 WHERE ro.kind = 'Deployment' AND ro.namespace = %(namespace)s AND ro.name = %(name)s
   AND ro.changes @? '$[*] ? (@.path starts with "spec.template")'
 ORDER BY ro.position""",
        f"""WITH r AS MATERIALIZED ({_RAW_RESTARTS})
SELECT e.recorded_at,
       (SELECT min(r.time) FROM r
         WHERE r.namespace = %(namespace)s AND r.pod LIKE %(name)s || '-%%'
           AND r.time > e.recorded_at)
  FROM events e
  JOIN events p ON p.stream_id = e.stream_id AND p.version = e.version - 1
 WHERE e.type = 'ObjectUpdated' AND e.data -> 'object' ->> 'kind' = 'Deployment'
   AND e.data -> 'object' -> 'metadata' ->> 'namespace' = %(namespace)s
   AND e.data -> 'object' -> 'metadata' ->> 'name' = %(name)s
   AND e.data -> 'object' -> 'spec' -> 'template' <> p.data -> 'object' -> 'spec' -> 'template'""",
    ),
    Recipe(
        "mean_time_between_restarts",
        "Mean time between restarts, per container of a deployment",
        """SELECT pod, container, count(*) AS restarts, avg(gap) AS mean_time_between_restarts
  FROM (SELECT pod, container,
               time - lag(time) OVER (PARTITION BY pod_uid, container ORDER BY time) AS gap
          FROM pod_restarts
         WHERE namespace = %(namespace)s AND workload_name = %(name)s) g
 GROUP BY pod, container
HAVING count(gap) > 0
 ORDER BY pod, container""",
        f"""SELECT pod, container, count(*)
  FROM ({_RAW_RESTARTS}) r
 WHERE namespace = %(namespace)s AND pod LIKE %(name)s || '-%%'
 GROUP BY 1, 2""",
    ),
    Recipe(
        "oom_kills_by_node",
        "OOM kills by node",
        """SELECT node, count(*) AS oom_kills
  FROM pod_restarts
 WHERE reason = 'OOMKilled' AND time >= %(since)s
 GROUP BY node
 ORDER BY oom_kills DESC, node""",
        f"""SELECT node, count(*) FROM ({_RAW_RESTARTS}) r
 WHERE reason = 'OOMKilled' AND time >= %(since)s GROUP BY node""",
    ),
    Recipe(
        "changes_by_user",
        "Changes made by one user (the latest 100)",
        """SELECT time, verb, kind, namespace, name, changes
  FROM audit_log
 WHERE actor = %(actor)s
 ORDER BY position DESC
 LIMIT 100""",
        """SELECT e.recorded_at, e.metadata ->> 'verb'
  FROM events e
 WHERE e.type <> 'ObjectStatusUpdated' AND e.metadata ->> 'actor' = %(actor)s
 ORDER BY e.position DESC LIMIT 100""",
    ),
    Recipe(
        "deleted_by_whom",
        "Objects deleted, and by whom",
        """SELECT time, event_type, kind, namespace, name, actor
  FROM audit_log
 WHERE event_type IN ('ObjectDeletionRequested', 'ObjectDeleted') AND time >= %(since)s
 ORDER BY position""",
        """SELECT e.recorded_at, e.type, e.metadata ->> 'actor'
  FROM events e
 WHERE e.type IN ('ObjectDeletionRequested', 'ObjectDeleted')
   AND e.recorded_at >= %(since)s""",
    ),
    Recipe(
        "object_life",
        "A full replay of one object's life",
        """SELECT version, time, event_type, actor, verb, resource_version,
       object -> 'spec' ->> 'replicas' AS replicas,
       object -> 'spec' -> 'template' -> 'spec' -> 'containers' -> 0 ->> 'image' AS image
  FROM object_history
 WHERE kind = 'Deployment' AND namespace = %(namespace)s AND name = %(name)s
 ORDER BY position""",
        """SELECT e.version, e.recorded_at, e.type
  FROM events e
 WHERE e.data -> 'object' ->> 'kind' = 'Deployment'
   AND e.data -> 'object' -> 'metadata' ->> 'namespace' = %(namespace)s
   AND e.data -> 'object' -> 'metadata' ->> 'name' = %(name)s
 ORDER BY e.position""",
    ),
    Recipe(
        "object_at",
        "An object exactly as it was at a given time",
        """SELECT dockyard_object_at('Deployment', %(namespace)s, %(name)s, %(at)s) AS object""",
        """SELECT e.data -> 'object'
  FROM events e
 WHERE e.data -> 'object' ->> 'kind' = 'Deployment'
   AND e.data -> 'object' -> 'metadata' ->> 'namespace' = %(namespace)s
   AND e.data -> 'object' -> 'metadata' ->> 'name' = %(name)s
   AND e.recorded_at <= %(at)s
 ORDER BY e.position DESC LIMIT 1""",
    ),
    Recipe(
        "node_transitions",
        "When did nodes go NotReady, and who said so",
        """SELECT time, node, previous_ready, ready, ready_reason, actor
  FROM node_events
 WHERE event_type = 'ObjectStatusUpdated'
 ORDER BY position""",
        None,
    ),
)

BY_KEY = {recipe.key: recipe for recipe in RECIPES}
