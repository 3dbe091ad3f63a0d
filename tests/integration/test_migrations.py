"""Migrations: upgrade head, downgrade base, and refusing a schema that is behind."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from dockyard.store import migrations
from dockyard.store.db import make_engine


def test_upgrade_then_downgrade_then_upgrade(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    try:
        with pytest.raises(migrations.SchemaOutOfDate, match="dockyard db upgrade"):
            migrations.ensure_current(engine)
        migrations.upgrade(engine)
        migrations.ensure_current(engine)
        assert {"events", "objects", "projection_checkpoints"} <= set(
            inspect(engine).get_table_names()
        )
        migrations.downgrade(engine, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        assert migrations.current_revision(engine) is None
        migrations.upgrade(engine)
        assert migrations.current_revision(engine) == migrations.head_revision()
    finally:
        engine.dispose()


def test_schema_behind_names_the_command(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'from_the_future'")
        with pytest.raises(migrations.SchemaOutOfDate, match="newer Dockyard"):
            migrations.ensure_current(engine)
    finally:
        engine.dispose()
