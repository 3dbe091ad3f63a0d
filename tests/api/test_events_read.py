"""Reading Events uses the (type, recorded_at) index, not a scan of the log."""

from __future__ import annotations

import uuid

from sqlalchemy import Engine

from dockyard.server.events import OCCURRENCES_SQL, SOURCE_TYPES
from dockyard.store.event_types import ObjectCreated, ObjectPayload
from dockyard.store.events import EventStore, new_event


def test_events_read_uses_the_type_recorded_at_index(engine: Engine, store: EventStore) -> None:
    filler = [
        new_event(
            ObjectCreated,
            str(uuid.uuid4()),
            ObjectPayload(object={"kind": "ConfigMap", "metadata": {"name": f"o{i}"}}),
        )
        for i in range(5000)
    ]
    store.append(filler)
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE events")
        plan = "\n".join(
            str(row[0])
            for row in conn.exec_driver_sql(
                "EXPLAIN " + OCCURRENCES_SQL, (SOURCE_TYPES, 3600.0, 0, 5000)
            )
        )
    assert "events_type_recorded_at" in plan, plan
    assert "Seq Scan" not in plan, plan
