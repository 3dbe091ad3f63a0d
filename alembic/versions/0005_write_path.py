"""One-statement object writes: append and project inside the append lock, nothing in between.

Revision ID: 0005_write_path
Revises: 0004_notify
Create Date: 2026-11-26

Appends are serialized by one advisory lock that is held until commit (see
dockyard/store/events.py). Before this revision an object write held it across four round trips
(append, projection DELETE, projection UPSERT, COMMIT), and under load the client's threads
queued for Python's GIL between them while every other writer queued for the lock.
``dockyard_write_objects`` does the whole write in one statement: check the objects it requires
(a namespace that exists and is not terminating), append, apply the objects projection to the
appended range. Run in autocommit, the lock is held for one execution and one commit.

``objects.stream_version`` (the version of the object's stream at its resourceVersion) lets a
writer that read an object without locking it append with that version expected: optimistic
concurrency instead of ``SELECT ... FOR UPDATE`` held across a round trip.

``dockyard_append`` is replaced by a cheaper one: one head lookup when the single event's stream
is the expected one, and ``jsonb_to_recordset`` for batches (one pass over the document).
"""

from alembic import op

revision = "0005_write_path"
down_revision = "0004_notify"
branch_labels = None
depends_on = None

APPEND_LOCK_KEY = 1685021547
OBJECT_TYPES = (
    "ARRAY['ObjectCreated', 'ObjectUpdated', 'ObjectStatusUpdated', "
    "'ObjectDeletionRequested', 'ObjectDeleted']"
)

_APPEND = f"""
CREATE OR REPLACE FUNCTION dockyard_append(p_events jsonb, p_expected jsonb)
RETURNS TABLE (out_position bigint, out_stream_id text, out_version bigint,
               out_recorded_at timestamptz)
LANGUAGE plpgsql AS $fn$
-- p_events: [{{event_id, stream_id, type, schema_version, data, metadata}}, ...]
-- p_expected: {{stream_id: version the writer last saw (0 = must not exist)}}
DECLARE
    v_now    timestamptz;
    v_head   bigint;
    v_have   bigint;
    v_stream text;
    v_key    text;
    v_want   bigint;
    v_event  jsonb;
    v_single boolean := jsonb_array_length(p_events) = 1;
BEGIN
    -- Serialize appenders: held until this transaction ends, so positions are handed out in
    -- commit order and a reader never sees position n+1 before position n. Every statement
    -- below runs after the lock is granted, so it sees every append committed before ours.
    PERFORM pg_advisory_xact_lock({APPEND_LOCK_KEY});
    PERFORM set_config('dockyard.appending', 'on', true);
    IF v_single THEN
        v_event := p_events -> 0;
        v_stream := v_event ->> 'stream_id';
        SELECT coalesce(max(e.version), 0) INTO v_head FROM events e WHERE e.stream_id = v_stream;
    END IF;
    FOR v_key, v_want IN SELECT key, value::bigint FROM jsonb_each_text(p_expected) LOOP
        IF v_single AND v_key = v_stream THEN
            v_have := v_head;  -- the common case: one lookup answers both questions
        ELSE
            SELECT coalesce(max(e.version), 0) INTO v_have FROM events e WHERE e.stream_id = v_key;
        END IF;
        IF v_have <> v_want THEN
            RAISE EXCEPTION 'wrong expected version for stream %: expected %, found %',
                v_key, v_want, v_have
                USING ERRCODE = 'DY409', DETAIL = format('%s|%s|%s', v_key, v_want, v_have);
        END IF;
    END LOOP;
    v_now := clock_timestamp();
    IF v_single THEN
        RETURN QUERY
        WITH inserted AS (
            INSERT INTO events (event_id, stream_id, version, type, schema_version, data,
                                metadata, recorded_at)
            VALUES ((v_event ->> 'event_id')::uuid, v_stream, v_head + 1, v_event ->> 'type',
                    (v_event ->> 'schema_version')::integer, v_event -> 'data',
                    v_event -> 'metadata', v_now)
            RETURNING events.position, events.stream_id, events.version, events.recorded_at
        )
        SELECT * FROM inserted;
    ELSE
        RETURN QUERY
        WITH input AS (
            SELECT * FROM ROWS FROM (
                jsonb_to_recordset(p_events) AS (event_id uuid, stream_id text, type text,
                                                 schema_version integer, data jsonb,
                                                 metadata jsonb)
            ) WITH ORDINALITY AS a(event_id, stream_id, type, schema_version, data, metadata,
                                   ord)
        ), heads AS (
            SELECT s.stream_id,
                   coalesce((SELECT max(e.version) FROM events e
                              WHERE e.stream_id = s.stream_id), 0) AS head
              FROM (SELECT DISTINCT input.stream_id FROM input) s
        ), numbered AS (
            SELECT i.*, h.head + row_number() OVER (PARTITION BY i.stream_id ORDER BY i.ord)
                       AS version
              FROM input i JOIN heads h ON h.stream_id = i.stream_id
        ), inserted AS (
            INSERT INTO events (event_id, stream_id, version, type, schema_version, data,
                                metadata, recorded_at)
            SELECT n.event_id, n.stream_id, n.version, n.type, n.schema_version, n.data,
                   n.metadata, v_now
              FROM numbered n ORDER BY n.ord
            RETURNING events.position, events.stream_id, events.version, events.recorded_at
        )
        SELECT * FROM inserted ORDER BY 1;
    END IF;
    PERFORM set_config('dockyard.appending', 'off', true);
    -- A wake-up only; followers always re-read from their checkpoint.
    PERFORM pg_notify('dockyard_events', '');
END
$fn$
"""

# The objects projection of a position range (see dockyard/store/objects.py): the last object
# event of each stream in the range wins. Deletions run first: a name freed by a deleted uid
# may be taken by a new uid in the same range, and (kind, namespace, name) is unique. The body
# is stamped with its resourceVersion (the position, which the writer could not know) and its
# uid (the stream).
_PROJECT = f"""
CREATE FUNCTION dockyard_project_objects(p_after bigint, p_until bigint) RETURNS void
LANGUAGE plpgsql AS $fn$  -- plpgsql, not sql: its plans are cached across calls
BEGIN
    DELETE FROM objects o
     USING (SELECT DISTINCT ON (stream_id) position, stream_id, type
              FROM events
             WHERE position > p_after AND position <= p_until AND type = ANY({OBJECT_TYPES})
             ORDER BY stream_id, position DESC) last
     WHERE o.uid = last.stream_id AND last.type = 'ObjectDeleted'
       AND o.resource_version < last.position;

    INSERT INTO objects (uid, api_version, kind, namespace, name, resource_version,
                         stream_version, generation, labels, annotations, spec, status, body,
                         created_at, updated_at, deletion_timestamp)
    SELECT last.stream_id,
           coalesce(obj ->> 'apiVersion', ''),
           coalesce(obj ->> 'kind', ''),
           coalesce(obj -> 'metadata' ->> 'namespace', ''),
           coalesce(obj -> 'metadata' ->> 'name', ''),
           last.position,
           last.version,
           coalesce((obj -> 'metadata' ->> 'generation')::bigint, 1),
           coalesce(obj -> 'metadata' -> 'labels', '{{}}'::jsonb),
           coalesce(obj -> 'metadata' -> 'annotations', '{{}}'::jsonb),
           obj -> 'spec',
           obj -> 'status',
           jsonb_set(obj, '{{metadata}}',
                     coalesce(obj -> 'metadata', '{{}}'::jsonb)
                     || jsonb_build_object('resourceVersion', last.position::text,
                                           'uid', last.stream_id)),
           coalesce((obj -> 'metadata' ->> 'creationTimestamp')::timestamptz,
                    last.recorded_at),
           last.recorded_at,
           (obj -> 'metadata' ->> 'deletionTimestamp')::timestamptz
      FROM (SELECT DISTINCT ON (stream_id) position, stream_id, version, type,
                   data -> 'object' AS obj, recorded_at
              FROM events
             WHERE position > p_after AND position <= p_until AND type = ANY({OBJECT_TYPES})
             ORDER BY stream_id, position DESC) last
     WHERE last.type <> 'ObjectDeleted'
    ON CONFLICT (uid) DO UPDATE SET
        api_version = EXCLUDED.api_version, kind = EXCLUDED.kind,
        namespace = EXCLUDED.namespace, name = EXCLUDED.name,
        resource_version = EXCLUDED.resource_version,
        stream_version = EXCLUDED.stream_version, generation = EXCLUDED.generation,
        labels = EXCLUDED.labels, annotations = EXCLUDED.annotations, spec = EXCLUDED.spec,
        status = EXCLUDED.status, body = EXCLUDED.body, updated_at = EXCLUDED.updated_at,
        deletion_timestamp = EXCLUDED.deletion_timestamp
    WHERE objects.resource_version < EXCLUDED.resource_version;
END
$fn$
"""

_WRITE_OBJECTS = f"""
CREATE FUNCTION dockyard_write_objects(p_events jsonb, p_expected jsonb, p_require jsonb)
RETURNS TABLE (out_position bigint, out_stream_id text, out_version bigint,
               out_recorded_at timestamptz)
LANGUAGE plpgsql AS $fn$
-- p_require: [{{kind, namespace, name}}]: objects that must exist and not be terminating
-- (DY404 / DY410 otherwise), e.g. the namespace of an object being created.
DECLARE
    v_row  record;
    v_req  jsonb;
    v_term boolean;
    v_lo   bigint;
    v_hi   bigint;
BEGIN
    -- The lock first: the checks below then see every write committed before ours, and no
    -- write can commit between them and our append (every object write appends).
    PERFORM pg_advisory_xact_lock({APPEND_LOCK_KEY});
    FOR v_req IN SELECT value FROM jsonb_array_elements(p_require) LOOP
        SELECT o.deletion_timestamp IS NOT NULL
               OR coalesce(o.status ->> 'phase', '') = 'Terminating'
          INTO v_term
          FROM objects o
         WHERE o.kind = v_req ->> 'kind' AND o.namespace = v_req ->> 'namespace'
           AND o.name = v_req ->> 'name';
        IF NOT FOUND THEN
            RAISE EXCEPTION '% "%" not found', v_req ->> 'kind', v_req ->> 'name'
                USING ERRCODE = 'DY404',
                      DETAIL = format('%s|%s|%s', v_req ->> 'kind', v_req ->> 'namespace',
                                      v_req ->> 'name');
        ELSIF v_term THEN
            RAISE EXCEPTION '% "%" is being terminated', v_req ->> 'kind', v_req ->> 'name'
                USING ERRCODE = 'DY410',
                      DETAIL = format('%s|%s|%s', v_req ->> 'kind', v_req ->> 'namespace',
                                      v_req ->> 'name');
        END IF;
    END LOOP;
    FOR v_row IN SELECT * FROM dockyard_append(p_events, p_expected) LOOP
        out_position := v_row.out_position;
        out_stream_id := v_row.out_stream_id;
        out_version := v_row.out_version;
        out_recorded_at := v_row.out_recorded_at;
        RETURN NEXT;
        v_lo := least(v_lo, v_row.out_position);
        v_hi := greatest(v_hi, v_row.out_position);
    END LOOP;
    IF v_hi IS NOT NULL THEN
        -- Appends are serialized and we hold the lock: every position in the range is ours.
        PERFORM dockyard_project_objects(v_lo - 1, v_hi);
    END IF;
END
$fn$
"""


# Group commit: many independent writes in one transaction, so one WAL flush serves them all.
# Appends are serialized by the lock until commit, so without this every write pays its own
# flush while every other writer waits. Each write runs in its own subtransaction (an
# EXCEPTION block): one write's conflict or taken name fails that write alone. Its rows are
# collected first and returned only once the block succeeded. The lock is taken once, outside
# the subtransactions (a lock taken inside one is released when it rolls back). Callers keep
# batches under 64 writes: more subtransactions with XIDs overflow PostgreSQL's cache of them.
_WRITE_BATCH = f"""
CREATE FUNCTION dockyard_write_batch(p_writes jsonb)
RETURNS TABLE (write_index integer, out_position bigint, out_stream_id text, out_version bigint,
               out_recorded_at timestamptz, error_state text, error_message text,
               error_detail text, error_constraint text)
LANGUAGE plpgsql AS $fn$
-- p_writes: [{{events, expected, require, project}}]: each as dockyard_write_objects (project)
-- or dockyard_append (not project) would take it.
DECLARE
    v_write     jsonb;
    v_index     integer := -1;
    v_positions bigint[];
    v_streams   text[];
    v_versions  bigint[];
    v_times     timestamptz[];
    v_failed    boolean;
BEGIN
    PERFORM pg_advisory_xact_lock({APPEND_LOCK_KEY});
    FOR v_write IN SELECT value FROM jsonb_array_elements(p_writes) LOOP
        v_index := v_index + 1;
        v_failed := false;
        BEGIN
            IF coalesce((v_write ->> 'project')::boolean, false) THEN
                SELECT array_agg(w.out_position ORDER BY w.out_position),
                       array_agg(w.out_stream_id ORDER BY w.out_position),
                       array_agg(w.out_version ORDER BY w.out_position),
                       array_agg(w.out_recorded_at ORDER BY w.out_position)
                  INTO v_positions, v_streams, v_versions, v_times
                  FROM dockyard_write_objects(v_write -> 'events', v_write -> 'expected',
                                              coalesce(v_write -> 'require', '[]'::jsonb)) w;
            ELSE
                SELECT array_agg(w.out_position ORDER BY w.out_position),
                       array_agg(w.out_stream_id ORDER BY w.out_position),
                       array_agg(w.out_version ORDER BY w.out_position),
                       array_agg(w.out_recorded_at ORDER BY w.out_position)
                  INTO v_positions, v_streams, v_versions, v_times
                  FROM dockyard_append(v_write -> 'events', v_write -> 'expected') w;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            v_failed := true;
            write_index := v_index;
            out_position := NULL;
            out_stream_id := NULL;
            out_version := NULL;
            out_recorded_at := NULL;
            GET STACKED DIAGNOSTICS error_state = RETURNED_SQLSTATE,
                                    error_message = MESSAGE_TEXT,
                                    error_detail = PG_EXCEPTION_DETAIL,
                                    error_constraint = CONSTRAINT_NAME;
            RETURN NEXT;
        END;
        IF NOT v_failed THEN
            error_state := NULL;
            error_message := NULL;
            error_detail := NULL;
            error_constraint := NULL;
            FOR i IN 1 .. coalesce(array_length(v_positions, 1), 0) LOOP
                write_index := v_index;
                out_position := v_positions[i];
                out_stream_id := v_streams[i];
                out_version := v_versions[i];
                out_recorded_at := v_times[i];
                RETURN NEXT;
            END LOOP;
        END IF;
    END LOOP;
END
$fn$
"""


def upgrade() -> None:
    op.execute("ALTER TABLE objects ADD COLUMN stream_version bigint NOT NULL DEFAULT 0")
    op.execute(
        "UPDATE objects o SET stream_version = e.version FROM events e "
        "WHERE e.position = o.resource_version"
    )
    op.execute(_APPEND)
    op.execute(_PROJECT)
    op.execute(_WRITE_OBJECTS)
    op.execute(_WRITE_BATCH)


def downgrade() -> None:
    op.execute("DROP FUNCTION dockyard_write_batch(jsonb)")
    op.execute("DROP FUNCTION dockyard_write_objects(jsonb, jsonb, jsonb)")
    op.execute("DROP FUNCTION dockyard_project_objects(bigint, bigint)")
    op.execute("ALTER TABLE objects DROP COLUMN stream_version")
    # The previous dockyard_append (0001) is a superset in behaviour; keep the faster one:
    # downgrading past 0001 drops it with the events table.
