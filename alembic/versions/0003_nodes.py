"""Node leases: a mutable row per node, renewed every few seconds (heartbeats are not events).

Revision ID: 0003_nodes
Revises: 0002_audit
Create Date: 2026-11-26
"""

from alembic import op

revision = "0003_nodes"
down_revision = "0002_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Not an event: the log records that a node registered or went NotReady, never a heartbeat.
    op.execute(
        """
        CREATE TABLE node_leases (
            node_name        text        PRIMARY KEY,
            holder           text        NOT NULL,
            renewed_at       timestamptz NOT NULL,
            duration_seconds integer     NOT NULL DEFAULT 40 CHECK (duration_seconds > 0)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE node_leases")
