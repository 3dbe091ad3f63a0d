"""Objects projection: an object without creationTimestamp was created when its first event was.

Revision ID: 0007_created_at_first_event
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
"""

import importlib.util
from pathlib import Path
from types import ModuleType

from alembic import op

revision = "0007_created_at_first_event"
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
_LAST_AND_FIRST = (
    "data -> 'object' AS obj, recorded_at,\n"
    "                   min(recorded_at) OVER (PARTITION BY stream_id) AS first_recorded_at\n"
)


def _write_path() -> ModuleType:
    """Revision 0005, whose function this one amends (its file name is not importable)."""
    path = Path(__file__).with_name("0005_write_path.py")
    spec = importlib.util.spec_from_file_location("dockyard_migration_0005", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _project_sql() -> tuple[str, str]:
    """0005's ``dockyard_project_objects`` as CREATE OR REPLACE, before and after this change."""
    before = _write_path()._PROJECT.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    for fragment in (_FALLBACK, _LAST):
        if before.count(fragment) != 1:
            raise RuntimeError(f"0005's projection no longer reads {fragment!r}")
    after = before.replace(_FALLBACK, _FIRST_FALLBACK).replace(_LAST, _LAST_AND_FIRST)
    return before, after


def upgrade() -> None:
    op.execute(_project_sql()[1])


def downgrade() -> None:
    op.execute(_project_sql()[0])
