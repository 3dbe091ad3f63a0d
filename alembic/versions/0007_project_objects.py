"""Objects projection: the position range alone picks its rows, and created_at is range-proof.

Revision ID: 0007_project_objects
Revises: 0006_notify_reason
Create Date: 2026-11-26

``dockyard_project_objects`` (0005) folds a range of positions to the last event of each object.
For a body without ``metadata.creationTimestamp`` it took ``created_at`` from that last event's
``recorded_at``, so the value depended on where range boundaries fell: an object created and
updated in one range got the update's time, in two ranges the create's. Live projection and
rebuild use different widths (a rebuild replays 50,000 positions per statement), so they could
disagree. Now the fallback is the time of the object's first event in the range, which is its
creation whenever the row is new (an existing row keeps its ``created_at``): the same for any
width.

Its range scan also filtered on ``type = ANY(object types)``. PL/pgSQL caches a generic plan per
connection, and one made while the log was small (or before statistics caught up) ANDed the
position range with a bitmap scan of ``events_type_recorded_at``: every object event in the log,
on every write. The API server's writer connection lives for days, so a write's cost grew with
the log (2.2 ms of PostgreSQL CPU per create after 15,000 pods, against 0.5 ms). ``type || ''``
is not indexable, so the primary key's range is the only way in, whatever the plan.
"""

import runpy
from pathlib import Path

from alembic import op

revision = "0007_project_objects"
down_revision = "0006_notify_reason"
branch_labels = None
depends_on = None

_FALLBACK = (
    "coalesce((obj -> 'metadata' ->> 'creationTimestamp')::timestamptz,\n"
    "                    last.recorded_at),"
)
_FIRST_FALLBACK = (
    "coalesce((obj -> 'metadata' ->> 'creationTimestamp')::timestamptz,\n"
    "                    last.first_recorded_at),"
)
_LAST = "data -> 'object' AS obj, recorded_at\n"
_TYPE_FILTER = "AND type = ANY("
_UNINDEXED_TYPE_FILTER = "AND type || '' = ANY("
_LAST_AND_FIRST = (
    "data -> 'object' AS obj, recorded_at,\n"
    # Ordered as DISTINCT ON orders the rows, so one sort serves both.
    "                   min(recorded_at) OVER (PARTITION BY stream_id ORDER BY position DESC\n"
    "                       ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)\n"
    "                       AS first_recorded_at\n"
)


def _project_sql() -> tuple[str, str]:
    """0005's ``dockyard_project_objects`` as CREATE OR REPLACE, before and after this change."""
    # 0005's file name is not importable: run it for its text.
    write_path = runpy.run_path(str(Path(__file__).with_name("0005_write_path.py")))
    before = write_path["_PROJECT"].replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    for fragment, count in ((_FALLBACK, 1), (_LAST, 1), (_TYPE_FILTER, 2)):
        if before.count(fragment) != count:
            raise RuntimeError(f"0005's projection no longer reads {fragment!r}")
    after = (
        before.replace(_FALLBACK, _FIRST_FALLBACK)
        .replace(_LAST, _LAST_AND_FIRST)
        .replace(_TYPE_FILTER, _UNINDEXED_TYPE_FILTER)
    )
    return before, after


def upgrade() -> None:
    op.execute(_project_sql()[1])


def downgrade() -> None:
    op.execute(_project_sql()[0])
