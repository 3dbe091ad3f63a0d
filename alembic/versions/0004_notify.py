"""Notifier: container high-water marks, crash episodes, the Slack outbox, attempts, channels.

Revision ID: 0004_notify
Revises: 0003_nodes
Create Date: 2026-11-26
"""

from alembic import op

revision = "0004_notify"
down_revision = "0003_nodes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # What the notifier last saw of each container (and node): restarts are the difference.
    op.execute(
        """
        CREATE TABLE notify_marks (
            subject        text    NOT NULL,  -- pod uid, or 'node:<name>'
            container      text    NOT NULL,  -- '' for nodes
            restart_count  integer NOT NULL DEFAULT 0,
            waiting_reason text,
            PRIMARY KEY (subject, container)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE notify_episodes (
            id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            route         text        NOT NULL,
            group_key     text        NOT NULL,  -- namespace/OwnerKind/name, or Node/name
            opened_at     timestamptz NOT NULL,
            last_fact_at  timestamptz NOT NULL,
            resolve_after integer     NOT NULL,
            resolved_at   timestamptz,
            summary       jsonb       NOT NULL
        )
        """
    )
    # At most one open episode per route and group: the heart of "one thread, not a flood".
    op.execute(
        "CREATE UNIQUE INDEX notify_episodes_open ON notify_episodes (route, group_key) "
        "WHERE resolved_at IS NULL"
    )
    op.execute(
        """
        CREATE TABLE notify_outbox (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            dedup_key       text        NOT NULL UNIQUE,
            episode_id      bigint,
            kind            text        NOT NULL
                CHECK (kind IN ('root', 'update', 'reply', 'message')),
            route           text        NOT NULL,
            destination     jsonb       NOT NULL,
            body            jsonb       NOT NULL,
            state           text        NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'sent', 'dead', 'superseded')),
            attempts        integer     NOT NULL DEFAULT 0,
            run_at          timestamptz NOT NULL DEFAULT now(),
            last_error      text,
            channel_id      text,
            ts              text,
            source_position bigint,
            created_at      timestamptz NOT NULL DEFAULT now(),
            sent_at         timestamptz
        )
        """
    )
    op.execute(
        "CREATE INDEX notify_outbox_due ON notify_outbox (run_at, id) WHERE state = 'pending'"
    )
    op.execute("CREATE INDEX notify_outbox_episode ON notify_outbox (episode_id, kind)")
    # A row written here (from its own transaction) before a post, while the sender holds the
    # outbox row locked: if the sender dies, the next one knows the outcome is unknown.
    # Deliberately no foreign key: its KEY SHARE lock would wait for the sender's row lock.
    op.execute(
        """
        CREATE TABLE notify_attempts (
            outbox_id  bigint      NOT NULL,
            started_at timestamptz NOT NULL DEFAULT clock_timestamp()
        )
        """
    )
    op.execute("CREATE INDEX notify_attempts_outbox ON notify_attempts (outbox_id)")
    # Per-channel pacing shared by every sender process, and the channel ids Slack told us.
    op.execute(
        """
        CREATE TABLE notify_channels (
            channel    text        PRIMARY KEY,
            channel_id text,
            next_at    timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE VIEW alert_deliveries AS
        SELECT o.id, o.created_at, o.route, o.kind, o.state,
               o.destination ->> 'type' AS transport,
               coalesce(o.destination ->> 'channel', o.destination ->> 'url_host') AS target,
               o.body ->> 'text' AS summary, o.attempts, o.run_at, o.last_error,
               o.channel_id, o.ts, o.sent_at, o.episode_id, e.group_key,
               e.resolved_at AS episode_resolved_at, o.dedup_key
          FROM notify_outbox o
          LEFT JOIN notify_episodes e ON e.id = o.episode_id
        """
    )
    op.execute(
        "CREATE VIEW alert_dead_letters AS SELECT * FROM alert_deliveries WHERE state = 'dead'"
    )
    # Part of the audit contract: the read-only auditor role (0002_audit) may read them.
    op.execute("GRANT SELECT ON alert_deliveries, alert_dead_letters TO dockyard_auditor")


def downgrade() -> None:
    op.execute("REVOKE ALL ON alert_deliveries, alert_dead_letters FROM dockyard_auditor")
    op.execute("DROP VIEW IF EXISTS alert_dead_letters")
    op.execute("DROP VIEW IF EXISTS alert_deliveries")
    for table in (
        "notify_channels",
        "notify_attempts",
        "notify_outbox",
        "notify_episodes",
        "notify_marks",
    ):
        op.execute(f"DROP TABLE IF EXISTS {table}")
