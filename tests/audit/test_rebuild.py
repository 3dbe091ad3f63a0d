"""Every projection rebuilt by replay equals what it built live, whatever the widths of the
ranges: live here folds the log three positions at a time, the rebuild 50,000 at a time (the
whole scenario in one range)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text

from dockyard.store.events import EventStore
from dockyard.store.projections import ProjectionRunner
from dockyard.store.registry import all_projections
from dockyard.store.writer import ObjectWriter
from tests.audit.scenario import build


def tables(engine: Engine, names: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {
            name: sorted(
                (tuple(row) for row in conn.execute(text(f"SELECT * FROM {name}"))), key=repr
            )
            for name in names
        }


def test_rebuilt_projections_equal_the_live_ones(engine: Engine, store: EventStore) -> None:
    build(ObjectWriter(store))
    runner = ProjectionRunner(engine, store, all_projections(), batch_size=3)
    runner.catch_up()
    names = [table for projection in runner.projections for table in projection.tables]
    live = tables(engine, names)
    assert all(live[name] for name in names), {n: len(rows) for n, rows in live.items()}
    runner.rebuild_batch_size = 50_000
    for projection in runner.projections:
        runner.rebuild(projection)
    assert tables(engine, names) == live
