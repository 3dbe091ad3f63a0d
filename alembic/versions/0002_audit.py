"""Audit views, diff and time-travel functions, hash-chain seals and the auditor role.

The views are a public contract (docs/audit.md documents them column by column). They are
owned by the migrating role, so the read-only ``dockyard_auditor`` role reads them with the
owner's rights and needs no grant on any table.

Appends stay as fast as before: the only additions to the ``events`` table are three partial
expression indexes on desired-state events (a minority of the log); restarts, container runs and
seals are derived asynchronously by projections (dockyard/audit/projection.py).

Revision ID: 0002_audit
Revises: 0001_event_log
Create Date: 2026-11-26
"""

from alembic import op

revision = "0002_audit"
down_revision = "0001_event_log"
branch_labels = None
depends_on = None

AUDITOR = "dockyard_auditor"
DESIRED = "('ObjectCreated', 'ObjectUpdated', 'ObjectDeletionRequested', 'ObjectDeleted')"
OBJECT_TYPES = (
    "('ObjectCreated', 'ObjectUpdated', 'ObjectStatusUpdated', "
    "'ObjectDeletionRequested', 'ObjectDeleted')"
)
# Identity of the object an event is about, spelled exactly as the indexes spell it.
KIND = "(e.data -> 'object' ->> 'kind')"
NAMESPACE = "coalesce(e.data -> 'object' -> 'metadata' ->> 'namespace', '')"
NAME = "(e.data -> 'object' -> 'metadata' ->> 'name')"


def _identity(alias: str) -> tuple[str, str, str]:
    kind, namespace, name = (x.replace("e.data", f"{alias}.data") for x in (KIND, NAMESPACE, NAME))
    return kind, namespace, name


def upgrade() -> None:
    _functions()
    _indexes()
    _derived_tables()
    _views()
    _auditor_role()


def _functions() -> None:
    # Paths are JSONPath without the leading "$": spec.replicas,
    # spec.template.spec.containers[0].image, metadata.labels."app.kubernetes.io/name".
    op.execute(
        """
        CREATE FUNCTION dockyard_json_diff_paths(p_old jsonb, p_new jsonb, p_path text)
        RETURNS SETOF jsonb LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $fn$
        DECLARE
            v_key  text;
            v_step text;
            v_i    integer;
        BEGIN
            IF p_old IS NOT DISTINCT FROM p_new THEN
                RETURN;
            END IF;
            IF jsonb_typeof(p_old) = 'object' AND jsonb_typeof(p_new) = 'object' THEN
                FOR v_key IN
                    SELECT k FROM jsonb_object_keys(p_old) k
                    UNION SELECT k FROM jsonb_object_keys(p_new) k ORDER BY 1
                LOOP
                    v_step := CASE WHEN v_key ~ '^[A-Za-z_][A-Za-z0-9_]*$' THEN v_key
                                   ELSE '"' || replace(v_key, '"', '\\"') || '"' END;
                    RETURN QUERY SELECT * FROM dockyard_json_diff_paths(
                        p_old -> v_key, p_new -> v_key,
                        CASE WHEN p_path = '' THEN v_step ELSE p_path || '.' || v_step END);
                END LOOP;
            ELSIF jsonb_typeof(p_old) = 'array' AND jsonb_typeof(p_new) = 'array' THEN
                FOR v_i IN 0 .. greatest(jsonb_array_length(p_old),
                                         jsonb_array_length(p_new)) - 1
                LOOP
                    RETURN QUERY SELECT * FROM dockyard_json_diff_paths(
                        p_old -> v_i, p_new -> v_i, p_path || '[' || v_i || ']');
                END LOOP;
            ELSE
                RETURN NEXT jsonb_build_object('path', p_path, 'old', p_old, 'new', p_new);
            END IF;
        END
        $fn$
        """
    )
    # What the server owns or derives is not a change anyone made: resourceVersion (the
    # position), managedFields, generation (follows spec) and status (observed, not desired).
    op.execute(
        """
        CREATE FUNCTION dockyard_audit_strip(p_object jsonb)
        RETURNS jsonb LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
            SELECT CASE
                WHEN jsonb_typeof(p_object) <> 'object' THEN p_object
                WHEN p_object ? 'metadata' THEN
                    (p_object - 'status') || jsonb_build_object('metadata',
                        (p_object -> 'metadata') - 'resourceVersion' - 'managedFields'
                                                 - 'generation')
                ELSE p_object - 'status' END
        $fn$
        """
    )
    op.execute(
        """
        CREATE FUNCTION dockyard_json_diff(old jsonb, new jsonb)
        RETURNS jsonb LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
            SELECT coalesce(jsonb_agg(d), '[]'::jsonb)
              -- A creation (no old version) lists each top-level field it set.
              FROM dockyard_json_diff_paths(
                       dockyard_audit_strip(coalesce(old, CASE WHEN jsonb_typeof(new) = 'object'
                                                               THEN '{}'::jsonb END)),
                       dockyard_audit_strip(new), '') d
        $fn$
        """
    )
    # The object exactly as the API served it: uid and resourceVersion stamped as the objects
    # projection stamps them.
    op.execute(
        """
        CREATE FUNCTION dockyard_stamp_object(p_object jsonb, p_position bigint, p_uid text)
        RETURNS jsonb LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
            SELECT jsonb_set(p_object, '{metadata}',
                             coalesce(p_object -> 'metadata', '{}'::jsonb)
                             || jsonb_build_object('resourceVersion', p_position::text,
                                                   'uid', p_uid))
        $fn$
        """
    )
    # One sealed event's digest. jsonb's text form is canonical (keys sorted, one spelling), so
    # the digest of an unchanged row never changes.
    op.execute(
        """
        CREATE FUNCTION dockyard_event_digest(p_position bigint, p_event_id uuid,
            p_stream_id text, p_version bigint, p_type text, p_schema_version integer,
            p_data jsonb, p_metadata jsonb, p_recorded_at timestamptz)
        RETURNS bytea LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
            SELECT sha256(convert_to(concat_ws(E'\\x1f', p_position::text, p_event_id::text,
                p_stream_id, p_version::text, p_type, p_schema_version::text, p_data::text,
                p_metadata::text,
                (extract(epoch FROM p_recorded_at) * 1000000)::bigint::text), 'UTF8'))
        $fn$
        """
    )


def _indexes() -> None:
    # Partial: status updates (the bulk of the log) pay nothing for them.
    kind, namespace, name = KIND, NAMESPACE, NAME
    for index, columns in (
        ("events_audit_object", f"{kind}, {namespace}, {name}, position"),
        ("events_audit_namespace", f"{namespace}, recorded_at"),
        ("events_audit_actor", "(e.metadata ->> 'actor'), position"),
    ):
        columns = columns.replace("e.data", "data").replace("e.metadata", "metadata")
        op.execute(f"CREATE INDEX {index} ON events ({columns}) WHERE type IN {DESIRED}")


def _derived_tables() -> None:
    op.execute(
        """
        CREATE TABLE audit_restarts (
            position        bigint      NOT NULL,
            container       text        NOT NULL,
            time            timestamptz NOT NULL,
            pod_uid         text        NOT NULL,
            namespace       text        NOT NULL,
            pod             text        NOT NULL,
            node            text,
            owner_kind      text,
            owner_name      text,
            workload_kind   text,
            workload_name   text,
            restart_count   integer     NOT NULL,
            exit_code       integer,
            signal          integer,
            reason          text,
            message         text,
            started_at      timestamptz,
            finished_at     timestamptz,
            image           text,
            PRIMARY KEY (position, container)
        )
        """
    )
    op.execute("CREATE INDEX audit_restarts_time ON audit_restarts (time)")
    op.execute(
        "CREATE INDEX audit_restarts_workload ON audit_restarts (namespace, workload_name, time)"
    )
    op.execute(
        "CREATE INDEX audit_restarts_pod ON audit_restarts (namespace, pod, container, time)"
    )
    op.execute("CREATE INDEX audit_restarts_reason ON audit_restarts (reason, node)")
    op.execute(
        """
        CREATE TABLE audit_container_runs (
            pod_uid          text        NOT NULL,
            container        text        NOT NULL,
            started_at       timestamptz NOT NULL,
            finished_at      timestamptz,
            namespace        text        NOT NULL,
            pod              text        NOT NULL,
            node             text,
            image            text,
            container_id     text,
            attempt          integer,
            exit_code        integer,
            signal           integer,
            reason           text,
            first_position   bigint      NOT NULL,
            last_position    bigint      NOT NULL,
            PRIMARY KEY (pod_uid, container, started_at)
        )
        """
    )
    op.execute(
        "CREATE INDEX audit_container_runs_during ON audit_container_runs USING gist "
        "(tstzrange(started_at, finished_at, '[)'))"
    )
    op.execute("CREATE INDEX audit_container_runs_pod ON audit_container_runs (namespace, pod)")
    op.execute(
        """
        CREATE TABLE audit_changes (
            position bigint PRIMARY KEY,
            changes  jsonb  NOT NULL
        )
        """
    )
    op.execute(
        """
        CREATE TABLE event_seals (
            position bigint PRIMARY KEY,
            digest   bytea  NOT NULL,
            chain    bytea  NOT NULL
        )
        """
    )


def _views() -> None:
    ckind, cns, cname = _identity("c")
    op.execute(
        f"""
        CREATE VIEW audit_log AS
        SELECT e.position,
               e.recorded_at                                   AS time,
               e.type                                          AS event_type,
               e.metadata ->> 'actor'                          AS actor,
               ARRAY(SELECT jsonb_array_elements_text(
                     coalesce(e.metadata -> 'groups', '[]'::jsonb)))  AS groups,
               e.metadata ->> 'source'                         AS source,
               e.metadata ->> 'verb'                           AS verb,
               {KIND}                                          AS kind,
               {NAMESPACE}                                     AS namespace,
               {NAME}                                          AS name,
               e.stream_id                                     AS uid,
               e.version,
               -- Stored by the audit_changes projection; until it has caught up, computed.
               -- A scalar subquery inside coalesce runs only when the stored value is missing.
               coalesce(ac.changes, dockyard_json_diff(
                   (SELECT p.data -> 'object'
                      FROM events p
                     WHERE p.stream_id = e.stream_id AND p.version < e.version
                       AND p.type IN {OBJECT_TYPES}
                     ORDER BY p.version DESC LIMIT 1),
                   e.data -> 'object'))                        AS changes,
               e.metadata ->> 'request_id'                     AS request_id,
               e.metadata ->> 'client_address'                 AS client_address,
               e.metadata ->> 'user_agent'                     AS user_agent,
               (e.metadata ->> 'causation')::bigint            AS causation
          FROM events e
          -- A left join on audit_changes' key: a query that does not read `changes` never
          -- touches the table (the planner removes the join). The fallback's previous version
          -- is a per-row lookup rather than lag() over (stream_id ORDER BY version): a window
          -- function would stop filters on actor, kind or namespace from reaching the indexes.
          LEFT JOIN audit_changes ac ON ac.position = e.position
         WHERE e.type IN {DESIRED}
        """
    )
    # Every version of every object. The identity comes from the stream's creation event, so
    # a filter on kind/namespace/name uses events_audit_object and then the stream's index,
    # even for status updates, which no audit index covers.
    op.execute(
        f"""
        CREATE VIEW object_history AS
        SELECT e.position,
               e.recorded_at                                   AS time,
               {ckind}                                         AS kind,
               {cns}                                           AS namespace,
               {cname}                                         AS name,
               e.stream_id                                     AS uid,
               e.version,
               e.position::text                                AS resource_version,
               e.type                                          AS event_type,
               (e.data -> 'object' -> 'metadata' ->> 'generation')::bigint AS generation,
               e.metadata ->> 'actor'                          AS actor,
               e.metadata ->> 'verb'                           AS verb,
               dockyard_stamp_object(e.data -> 'object', e.position, e.stream_id) AS object
          FROM events c
          JOIN events e ON e.stream_id = c.stream_id
         WHERE c.type = 'ObjectCreated' AND e.type IN {OBJECT_TYPES}
        """
    )
    op.execute(
        """
        CREATE FUNCTION dockyard_object_at(kind text, namespace text, name text,
                                           at timestamptz)
        RETURNS jsonb LANGUAGE sql STABLE AS $fn$
            -- The newest version at or before `at` of the newest object of that name created
            -- by then; NULL when it did not exist (not yet created, or already deleted).
            SELECT CASE WHEN h.event_type = 'ObjectDeleted' THEN NULL ELSE h.object END
              FROM object_history h
             WHERE h.kind = $1 AND h.namespace = coalesce($2, '') AND h.name = $3
               AND h.time <= $4
             ORDER BY h.position DESC
             LIMIT 1
        $fn$
        """
    )
    op.execute(
        """
        CREATE VIEW pod_restarts AS
        SELECT position, time, namespace, pod, pod_uid, container, node, owner_kind,
               owner_name, workload_kind, workload_name, restart_count, exit_code, signal,
               reason, message, started_at, finished_at, finished_at - started_at AS ran_for,
               image
          FROM audit_restarts
        """
    )
    op.execute(
        """
        CREATE VIEW container_runs AS
        SELECT namespace, pod, pod_uid, container, node, image, container_id, attempt,
               started_at, finished_at, finished_at - started_at AS ran_for,
               exit_code, signal, reason, first_position, last_position
          FROM audit_container_runs
        """
    )
    op.execute(
        f"""
        CREATE VIEW node_events AS
        SELECT e.position,
               e.recorded_at                                   AS time,
               {cname}                                         AS node,
               e.type                                          AS event_type,
               e.metadata ->> 'actor'                          AS actor,
               e.metadata ->> 'source'                         AS source,
               ready.status                                    AS ready,
               prev_ready.status                               AS previous_ready,
               ready.reason                                    AS ready_reason,
               ready.message                                   AS ready_message,
               coalesce((e.data -> 'object' -> 'spec' ->> 'unschedulable')::boolean, false)
                                                               AS unschedulable,
               dockyard_json_diff(prev.object, e.data -> 'object') AS changes
          FROM events c
          JOIN events e ON e.stream_id = c.stream_id AND e.type IN {OBJECT_TYPES}
          LEFT JOIN LATERAL (
                SELECT p.data -> 'object' AS object
                  FROM events p
                 WHERE p.stream_id = e.stream_id AND p.version < e.version
                   AND p.type IN {OBJECT_TYPES}
                 ORDER BY p.version DESC LIMIT 1) prev ON true
          LEFT JOIN LATERAL (
                SELECT x ->> 'status' AS status, x ->> 'reason' AS reason,
                       x ->> 'message' AS message
                  FROM jsonb_array_elements(
                       coalesce(e.data -> 'object' -> 'status' -> 'conditions', '[]')) x
                 WHERE x ->> 'type' = 'Ready' LIMIT 1) ready ON true
          LEFT JOIN LATERAL (
                SELECT x ->> 'status' AS status, x ->> 'reason' AS reason
                  FROM jsonb_array_elements(
                       coalesce(prev.object -> 'status' -> 'conditions', '[]')) x
                 WHERE x ->> 'type' = 'Ready' LIMIT 1) prev_ready ON true
         WHERE c.type = 'ObjectCreated' AND {ckind} = 'Node'
           -- transitions only: a status update that left Ready and cordon alone is not one
           AND (e.type <> 'ObjectStatusUpdated'
                OR ready.status IS DISTINCT FROM prev_ready.status
                OR ready.reason IS DISTINCT FROM prev_ready.reason)
        """
    )


def _auditor_role() -> None:
    # Roles are cluster-wide: another database of the cluster may have created it already.
    op.execute(
        f"""
        DO $do$
        BEGIN
            -- Two databases migrating at once both see no role: the loser's CREATE fails with
            -- duplicate_object or a unique violation on pg_authid, and the role exists anyway.
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{AUDITOR}') THEN
                BEGIN
                    CREATE ROLE {AUDITOR} NOLOGIN;
                    ALTER ROLE {AUDITOR} SET default_transaction_read_only = on;
                EXCEPTION WHEN duplicate_object OR unique_violation THEN
                    NULL;
                END;
            END IF;
        END
        $do$
        """
    )
    op.execute(f"GRANT USAGE ON SCHEMA public TO {AUDITOR}")
    op.execute(
        "GRANT SELECT ON audit_log, object_history, pod_restarts, container_runs, node_events "
        f"TO {AUDITOR}"
    )
    # Functions are executable by PUBLIC by default; the ones an auditor calls read views only.


def downgrade() -> None:
    op.execute(
        "REVOKE ALL ON audit_log, object_history, pod_restarts, container_runs, node_events "
        f"FROM {AUDITOR}"
    )
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {AUDITOR}")
    # Other databases of the cluster may still use the role; drop it only if none does.
    op.execute(
        f"""
        DO $do$
        BEGIN
            DROP ROLE {AUDITOR};
        EXCEPTION WHEN dependent_objects_still_exist THEN
            RAISE NOTICE 'role {AUDITOR} is still used elsewhere; kept';
        END
        $do$
        """
    )
    op.execute("DROP FUNCTION dockyard_object_at(text, text, text, timestamptz)")
    for view in ("node_events", "container_runs", "pod_restarts", "object_history", "audit_log"):
        op.execute(f"DROP VIEW {view}")
    for table in ("event_seals", "audit_changes", "audit_container_runs", "audit_restarts"):
        op.execute(f"DROP TABLE {table}")
    for index in ("events_audit_object", "events_audit_namespace", "events_audit_actor"):
        op.execute(f"DROP INDEX {index}")
    op.execute(
        "DROP FUNCTION dockyard_event_digest(bigint, uuid, text, bigint, text, integer, jsonb, "
        "jsonb, timestamptz)"
    )
    op.execute("DROP FUNCTION dockyard_stamp_object(jsonb, bigint, text)")
    op.execute("DROP FUNCTION dockyard_json_diff(jsonb, jsonb)")
    op.execute("DROP FUNCTION dockyard_audit_strip(jsonb)")
    op.execute("DROP FUNCTION dockyard_json_diff_paths(jsonb, jsonb, text)")
