"""The event log, its append function, projection checkpoints and the objects read model.

Revision ID: 0001_event_log
Revises:
Create Date: 2026-11-26
"""

from alembic import op

revision = "0001_event_log"
down_revision = None
branch_labels = None
depends_on = None

# The one advisory lock every append takes (ASCII "dock"). See dockyard/store/events.py for why
# appends are serialized: it is what makes position order equal commit order.
APPEND_LOCK_KEY = 1685021547


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE events (
            position       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            event_id       uuid        NOT NULL,
            stream_id      text        NOT NULL,
            version        bigint      NOT NULL CHECK (version >= 1),
            type           text        NOT NULL,
            schema_version integer     NOT NULL DEFAULT 1 CHECK (schema_version >= 1),
            data           jsonb       NOT NULL,
            metadata       jsonb       NOT NULL DEFAULT '{}'::jsonb,
            recorded_at    timestamptz NOT NULL,
            CONSTRAINT events_event_id_key UNIQUE (event_id),
            CONSTRAINT events_stream_version_key UNIQUE (stream_id, version)
        ) WITH (autovacuum_vacuum_threshold = 100000000,
                autovacuum_vacuum_scale_factor = 0.5,
                autovacuum_analyze_threshold = 1000,
                autovacuum_analyze_scale_factor = 0.01)
        """
    )
    # Stream reads use events_stream_version_key; log tailing uses the primary key.
    # Time and type queries ("every restart last week"):
    op.execute("CREATE INDEX events_type_recorded_at ON events (type, recorded_at)")
    op.execute("CREATE INDEX events_recorded_at ON events USING brin (recorded_at)")

    op.execute(
        f"""
        CREATE FUNCTION dockyard_append(p_events jsonb, p_expected jsonb)
        RETURNS TABLE (out_position bigint, out_stream_id text, out_version bigint,
                       out_recorded_at timestamptz)
        LANGUAGE plpgsql AS $fn$
        -- p_events: [{{event_id, stream_id, type, schema_version, data, metadata}}, ...]
        -- p_expected: {{stream_id: version the writer last saw (0 = must not exist)}}
        DECLARE
            v_now    timestamptz;
            v_head   bigint;
            v_stream text;
            v_want   bigint;
            v_event  jsonb;
        BEGIN
            -- Serialize appenders: held until this transaction ends, so positions are handed
            -- out in commit order and a reader never sees position n+1 before position n.
            PERFORM pg_advisory_xact_lock({APPEND_LOCK_KEY});
            PERFORM set_config('dockyard.appending', 'on', true);
            FOR v_stream, v_want IN
                SELECT key, value::bigint FROM jsonb_each_text(p_expected)
            LOOP
                SELECT coalesce(max(e.version), 0) INTO v_head
                  FROM events e WHERE e.stream_id = v_stream;
                IF v_head <> v_want THEN
                    RAISE EXCEPTION 'wrong expected version for stream %: expected %, found %',
                        v_stream, v_want, v_head
                        USING ERRCODE = 'DY409',
                              DETAIL = format('%s|%s|%s', v_stream, v_want, v_head);
                END IF;
            END LOOP;
            v_now := clock_timestamp();
            IF jsonb_array_length(p_events) = 1 THEN
                -- The common case, kept free of the batch machinery below.
                v_event := p_events -> 0;
                v_stream := v_event ->> 'stream_id';
                SELECT coalesce(max(e.version), 0) INTO v_head
                  FROM events e WHERE e.stream_id = v_stream;
                RETURN QUERY
                WITH inserted AS (
                    INSERT INTO events (event_id, stream_id, version, type, schema_version,
                                        data, metadata, recorded_at)
                    VALUES ((v_event ->> 'event_id')::uuid, v_stream, v_head + 1,
                            v_event ->> 'type', (v_event ->> 'schema_version')::integer,
                            v_event -> 'data', v_event -> 'metadata', v_now)
                    RETURNING events.position, events.stream_id, events.version,
                              events.recorded_at
                )
                SELECT * FROM inserted;
            ELSE
                RETURN QUERY
                WITH input AS (
                    SELECT a.ord, (a.e ->> 'event_id')::uuid AS event_id,
                           a.e ->> 'stream_id' AS stream_id, a.e ->> 'type' AS type,
                           (a.e ->> 'schema_version')::integer AS schema_version,
                           a.e -> 'data' AS data, a.e -> 'metadata' AS metadata
                      FROM jsonb_array_elements(p_events) WITH ORDINALITY AS a(e, ord)
                ), heads AS (
                    SELECT s.stream_id,
                           coalesce((SELECT max(e.version) FROM events e
                                      WHERE e.stream_id = s.stream_id), 0) AS head
                      FROM (SELECT DISTINCT input.stream_id FROM input) s
                ), numbered AS (
                    SELECT i.*, h.head + row_number() OVER (PARTITION BY i.stream_id
                                                             ORDER BY i.ord) AS version
                      FROM input i JOIN heads h ON h.stream_id = i.stream_id
                ), inserted AS (
                    INSERT INTO events (event_id, stream_id, version, type, schema_version,
                                        data, metadata, recorded_at)
                    SELECT n.event_id, n.stream_id, n.version, n.type, n.schema_version,
                           n.data, n.metadata, v_now
                      FROM numbered n ORDER BY n.ord
                    RETURNING events.position, events.stream_id, events.version,
                              events.recorded_at
                )
                SELECT * FROM inserted ORDER BY 1;
            END IF;
            PERFORM set_config('dockyard.appending', 'off', true);
            -- A wake-up only; followers always re-read from their checkpoint.
            PERFORM pg_notify('dockyard_events', '');
        END
        $fn$
        """
    )
    op.execute(
        """
        CREATE FUNCTION dockyard_events_insert_guard() RETURNS trigger
        LANGUAGE plpgsql AS $fn$
        BEGIN
            IF coalesce(current_setting('dockyard.appending', true), '') <> 'on' THEN
                RAISE EXCEPTION 'events are appended only through dockyard_append(), which '
                    'serializes writers so that no follower skips a late commit'
                    USING ERRCODE = 'DY403';
            END IF;
            RETURN NULL;
        END
        $fn$
        """
    )
    op.execute(
        """
        CREATE FUNCTION dockyard_events_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $fn$
        BEGIN
            RAISE EXCEPTION 'the events table is append-only: % is not allowed', TG_OP
                USING ERRCODE = 'DY403',
                      HINT = 'History is never rewritten; append a new event instead.';
        END
        $fn$
        """
    )
    op.execute(
        "CREATE TRIGGER events_insert_guard BEFORE INSERT ON events "
        "FOR EACH STATEMENT EXECUTE FUNCTION dockyard_events_insert_guard()"
    )
    op.execute(
        "CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events "
        "FOR EACH STATEMENT EXECUTE FUNCTION dockyard_events_append_only()"
    )
    op.execute(
        "CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events "
        "FOR EACH STATEMENT EXECUTE FUNCTION dockyard_events_append_only()"
    )
    op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON events FROM PUBLIC")

    op.execute(
        """
        CREATE TABLE projection_checkpoints (
            name       text        PRIMARY KEY,
            position   bigint      NOT NULL DEFAULT 0 CHECK (position >= 0),
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE TABLE objects (
            uid                text        PRIMARY KEY,
            api_version        text        NOT NULL,
            kind               text        NOT NULL,
            namespace          text        NOT NULL DEFAULT '',
            name               text        NOT NULL,
            resource_version   bigint      NOT NULL,
            generation         bigint      NOT NULL DEFAULT 1,
            labels             jsonb       NOT NULL DEFAULT '{}'::jsonb,
            annotations        jsonb       NOT NULL DEFAULT '{}'::jsonb,
            spec               jsonb,
            status             jsonb,
            body               jsonb       NOT NULL,
            created_at         timestamptz NOT NULL,
            updated_at         timestamptz NOT NULL,
            deletion_timestamp timestamptz,
            CONSTRAINT objects_kind_namespace_name_key UNIQUE (kind, namespace, name)
        )
        """
    )
    op.execute("CREATE INDEX objects_labels ON objects USING gin (labels jsonb_path_ops)")
    op.execute("CREATE INDEX objects_resource_version ON objects (resource_version)")


def downgrade() -> None:
    op.execute("DROP TABLE objects")
    op.execute("DROP TABLE projection_checkpoints")
    op.execute("DROP TABLE events")
    op.execute("DROP FUNCTION dockyard_events_append_only()")
    op.execute("DROP FUNCTION dockyard_events_insert_guard()")
    op.execute("DROP FUNCTION dockyard_append(jsonb, jsonb)")
