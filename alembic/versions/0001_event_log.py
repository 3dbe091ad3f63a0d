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
        CREATE FUNCTION dockyard_append(
            p_event_ids uuid[], p_streams text[], p_types text[], p_schema_versions integer[],
            p_data jsonb[], p_metadata jsonb[], p_expect_streams text[], p_expect_versions bigint[]
        ) RETURNS TABLE (out_position bigint, out_stream_id text, out_version bigint,
                         out_recorded_at timestamptz)
        LANGUAGE plpgsql AS $fn$
        DECLARE
            v_now  timestamptz;
            v_head bigint;
        BEGIN
            -- Serialize appenders: held until this transaction ends, so positions are handed
            -- out in commit order and a reader never sees position n+1 before position n.
            PERFORM pg_advisory_xact_lock({APPEND_LOCK_KEY});
            PERFORM set_config('dockyard.appending', 'on', true);
            FOR i IN 1 .. coalesce(array_length(p_expect_streams, 1), 0) LOOP
                SELECT coalesce(max(e.version), 0) INTO v_head
                  FROM events e WHERE e.stream_id = p_expect_streams[i];
                IF v_head <> p_expect_versions[i] THEN
                    RAISE EXCEPTION 'wrong expected version for stream %: expected %, found %',
                        p_expect_streams[i], p_expect_versions[i], v_head
                        USING ERRCODE = 'DY409',
                              DETAIL = format('%s|%s|%s', p_expect_streams[i],
                                              p_expect_versions[i], v_head);
                END IF;
            END LOOP;
            v_now := clock_timestamp();
            RETURN QUERY
            WITH input AS (
                SELECT u.ord, u.event_id, u.stream_id, u.type, u.schema_version, u.data,
                       u.metadata
                  FROM unnest(p_event_ids, p_streams, p_types, p_schema_versions, p_data,
                              p_metadata)
                       WITH ORDINALITY AS u(event_id, stream_id, type, schema_version, data,
                                            metadata, ord)
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
                INSERT INTO events (event_id, stream_id, version, type, schema_version, data,
                                    metadata, recorded_at)
                SELECT n.event_id, n.stream_id, n.version, n.type, n.schema_version, n.data,
                       n.metadata, v_now
                  FROM numbered n ORDER BY n.ord
                RETURNING events.position, events.stream_id, events.version, events.recorded_at
            )
            SELECT * FROM inserted ORDER BY 1;
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
    op.execute(
        "DROP FUNCTION dockyard_append(uuid[], text[], text[], integer[], jsonb[], jsonb[], "
        "text[], bigint[])"
    )
