"""audit_log.changes: stored by the audit_changes projection, computed while it lags behind."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from tests.audit.scenario import Scenario

_LOG = "SELECT position, changes FROM audit_log ORDER BY position"


def _changes(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(_LOG)]


def test_stored_changes_equal_the_computed_ones(engine: Engine, scenario: Scenario) -> None:
    stored = _changes(engine)
    with engine.connect() as conn:
        covered = conn.exec_driver_sql(
            "SELECT count(*) FROM audit_log a JOIN audit_changes c USING (position)"
        ).scalar_one()
    assert covered == len(stored) > 0
    with engine.begin() as conn:  # as if the projection had not caught up yet
        conn.exec_driver_sql("DELETE FROM audit_changes")
    assert _changes(engine) == stored
    assert any(changes for _, changes in stored)
