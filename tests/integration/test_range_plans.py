"""Reads of a range of the log are driven by the range, even under a cached generic plan.

PL/pgSQL functions and prepared statements may run a generic plan made while the log was small.
Such a plan used to AND the position range with a bitmap scan of ``events_type_recorded_at``
(every event of the wanted types, on every write): writes slowed down as the log grew. These
tests force generic plans and look at what PostgreSQL would run.
"""

from __future__ import annotations

from typing import Any

import psycopg
from sqlalchemy import Engine

from dockyard.store.db import libpq_url
from dockyard.store.event_types import ObjectCreated, ObjectPayload
from dockyard.store.events import EventStore, new_event

TYPE_INDEX = "events_type_recorded_at"


def fill_log(store: EventStore, objects: int = 3000) -> None:
    """Many object events, no statistics yet: the state of a young, busy log."""
    for start in range(0, objects, 500):
        store.append(
            [
                new_event(
                    ObjectCreated,
                    f"u{i}",
                    ObjectPayload(
                        object={
                            "apiVersion": "v1",
                            "kind": "Pod",
                            "metadata": {"name": f"p{i}", "namespace": "default"},
                        }
                    ),
                )
                for i in range(start, start + 500)
            ]
        )


def explained(conn: psycopg.Connection[Any]) -> list[str]:
    """Make ``conn`` use generic plans and report every plan it runs (auto_explain, as
    notices, including the statements inside functions); the list fills as it runs."""
    plans: list[str] = []
    conn.add_notice_handler(lambda diag: plans.append(diag.message_primary or ""))
    for setting in (
        "LOAD 'auto_explain'",
        "SET plan_cache_mode = force_generic_plan",
        "SET auto_explain.log_min_duration = 0",
        "SET auto_explain.log_nested_statements = on",
        "SET auto_explain.log_level = notice",
        "SET client_min_messages = notice",
    ):
        conn.execute(setting)
    return plans


def assert_range_scans(plans: list[str]) -> None:
    scans = [plan for plan in plans if "on events" in plan]
    assert scans, plans
    for plan in scans:
        assert "events_pkey" in plan, plan
        assert TYPE_INDEX not in plan, plan


def test_the_objects_projection_reads_its_range_by_position(
    engine: Engine, store: EventStore
) -> None:
    fill_log(store)
    head = store.head_position()
    url = libpq_url(engine.url.render_as_string(hide_password=False))
    with psycopg.connect(url, autocommit=True) as conn:
        plans = explained(conn)
        with conn.transaction(force_rollback=True):
            conn.execute("SELECT dockyard_project_objects(%s, %s)", (head - 1, head))
    # The DELETE and the INSERT each read the range.
    assert len([plan for plan in plans if "on events" in plan]) >= 2, plans
    assert_range_scans(plans)


def test_a_typed_read_of_the_log_uses_the_position_range(engine: Engine, store: EventStore) -> None:
    fill_log(store)
    head = store.head_position()
    with engine.connect() as conn:
        driver = conn.connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        plans = explained(driver)
        # psycopg prepares a statement on its sixth run; from then on the plan is generic.
        for _ in range(7):
            events = store.read_all(
                after=head - 10, until=head, types=[ObjectCreated.name], conn=conn
            )
            assert len(events) == 10
        conn.rollback()
    assert_range_scans(plans[-1:])
