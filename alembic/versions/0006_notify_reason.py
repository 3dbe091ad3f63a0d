"""Notifier: the death reason each container's last restart was told with.

Revision ID: 0006_notify_reason
Revises: 0005_write_path
Create Date: 2026-11-26

The agent may learn that a death was an OOM kill only after it published it as Error (Docker's
``oom`` event after ``die``, agent/oom.py) and then corrects the pod status of that instance.
To tell the correction once, the notifier remembers beside its high-water mark the reason the
restart was told with (dockyard/notify/facts.py). NULL: no reason told, or a mark written
before this revision; neither is corrected.
"""

from alembic import op

revision = "0006_notify_reason"
down_revision = "0005_write_path"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE notify_marks ADD COLUMN death_reason text")


def downgrade() -> None:
    op.execute("ALTER TABLE notify_marks DROP COLUMN IF EXISTS death_reason")
