"""Projections: checkpoint and read model in one transaction; rebuild equals live."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from sqlalchemy import Engine, text

from dockyard.store.event_types import (
    OBJECT_EVENT_TYPES,
    ObjectCreated,
    ObjectDeleted,
    ObjectDeletionRequested,
    ObjectPayload,
    ObjectStatusUpdated,
    ObjectUpdated,
)
from dockyard.store.events import EventStore, new_event
from dockyard.store.objects import ObjectsProjection
from dockyard.store.projections import EventBatch, ProjectionRunner, checkpoint


def obj(uid: str, name: str, *, kind: str = "Pod", gen: int = 1, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "uid": uid, "generation": gen}
    meta.update(extra.pop("meta", {}))
    return {"apiVersion": "v1", "kind": kind, "metadata": meta, "spec": {"x": gen}, **extra}


def write_history(store: EventStore) -> None:
    """A small but varied life: creates, updates, status, deletions, a reused name."""
    store.append([new_event(ObjectCreated, "u1", ObjectPayload(object=obj("u1", "a")))])
    store.append([new_event(ObjectCreated, "u2", ObjectPayload(object=obj("u2", "b")))])
    labelled = obj("u1", "a", gen=2, meta={"labels": {"app": "web"}})
    store.append([new_event(ObjectUpdated, "u1", ObjectPayload(object=labelled))])
    with_status = obj("u2", "b", status={"phase": "Running"})
    store.append([new_event(ObjectStatusUpdated, "u2", ObjectPayload(object=with_status))])
    deleting = obj("u2", "b", meta={"deletionTimestamp": "2026-11-26T05:00:00Z"})
    store.append([new_event(ObjectDeletionRequested, "u2", ObjectPayload(object=deleting))])
    store.append([new_event(ObjectDeleted, "u2", ObjectPayload(object=deleting))])
    store.append([new_event(ObjectCreated, "u3", ObjectPayload(object=obj("u3", "b")))])
    for i in range(30):
        store.append(
            [new_event(ObjectCreated, f"n{i}", ObjectPayload(object=obj(f"n{i}", f"p{i}")))]
        )


def snapshot(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT * FROM objects ORDER BY uid"))]


@pytest.fixture
def runner(engine: Engine, store: EventStore) -> ProjectionRunner:
    return ProjectionRunner(engine, store, [ObjectsProjection()], batch_size=4)


def test_objects_read_model(engine: Engine, store: EventStore, runner: ProjectionRunner) -> None:
    write_history(store)
    runner.catch_up()
    with engine.connect() as conn:
        rows = {
            r.uid: r
            for r in conn.execute(
                text(
                    "SELECT uid, name, kind, namespace, generation, labels, resource_version, "
                    "body, status FROM objects"
                )
            )
        }
    assert set(rows) == {"u1", "u3"} | {f"n{i}" for i in range(30)}
    u1 = rows["u1"]
    assert (u1.name, u1.kind, u1.namespace, u1.generation) == ("a", "Pod", "default", 2)
    assert u1.labels == {"app": "web"}
    # resourceVersion is the position of the object's latest event.
    assert u1.resource_version == store.read_stream("u1")[-1].position
    assert u1.body["metadata"]["resourceVersion"] == str(u1.resource_version)
    assert rows["u3"].name == "b"  # the name came free when u2 was deleted
    assert runner.positions() == {"objects": store.head_position()}


def test_replaying_applied_events_changes_nothing(
    engine: Engine, store: EventStore, runner: ProjectionRunner
) -> None:
    write_history(store)
    runner.catch_up()
    before = snapshot(engine)
    projection = runner.get("objects")
    with engine.begin() as conn:  # apply everything a second time, as a crashed runner might
        whole_log = EventBatch(
            store, conn, after=0, until=store.head_position(), types=projection.event_types
        )
        projection.apply(conn, whole_log)
    assert snapshot(engine) == before
    assert runner.catch_up() == 0


def test_checkpoint_and_read_model_commit_together(
    engine: Engine, store: EventStore, runner: ProjectionRunner
) -> None:
    store.append([new_event(ObjectCreated, "u1", ObjectPayload(object=obj("u1", "a")))])

    class Exploding(ObjectsProjection):
        def apply(self, conn: Any, events: Any) -> None:
            super().apply(conn, events)
            raise RuntimeError("crash after writing, before the checkpoint")

    exploding = ProjectionRunner(engine, store, [Exploding()])
    with pytest.raises(RuntimeError):
        exploding.catch_up()
    assert snapshot(engine) == []
    with engine.connect() as conn:
        assert checkpoint(conn, "objects") == 0
    runner.catch_up()
    assert len(snapshot(engine)) == 1


@pytest.mark.parametrize("rebuild_width", [2, 50_000])
def test_rebuild_matches_live_tables(
    engine: Engine, store: EventStore, runner: ProjectionRunner, rebuild_width: int
) -> None:
    """A rebuild folds history in ranges of its own width (the whole log here at 50,000: a
    name freed by one uid and taken by another in the same range) to the same tables."""
    runner.rebuild_batch_size = rebuild_width
    write_history(store)
    runner.catch_up()  # live: applied in small batches as events arrived
    live = snapshot(engine)
    with engine.begin() as conn:  # damage the read model
        conn.execute(text('UPDATE objects SET labels = \'{"broken": "yes"}\''))
        conn.execute(text("DELETE FROM objects WHERE uid = 'n3'"))
    assert snapshot(engine) != live
    applied = runner.rebuild(runner.get("objects"))
    assert applied >= 36
    assert snapshot(engine) == live
    assert runner.positions() == {"objects": store.head_position()}


def test_two_runners_take_turns(
    engine: Engine, store: EventStore, runner: ProjectionRunner
) -> None:
    write_history(store)
    other = ProjectionRunner(engine, store, [ObjectsProjection()], batch_size=3)
    errors: list[BaseException] = []

    def run(r: ProjectionRunner) -> None:
        try:
            r.catch_up()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(r,)) for r in (runner, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    fresh = snapshot(engine)
    runner.rebuild(runner.get("objects"))
    assert snapshot(engine) == fresh


def test_wait_for_returns_once_projected(
    engine: Engine, store: EventStore, runner: ProjectionRunner
) -> None:
    (event,) = store.append([new_event(ObjectCreated, "u1", ObjectPayload(object=obj("u1", "a")))])
    assert runner.wait_for(event.position, timeout=0.05) is False
    runner.catch_up()
    assert runner.wait_for(event.position, timeout=1.0) is True


def test_the_sql_projection_knows_every_object_event_type(engine: Engine) -> None:
    """dockyard_project_objects spells the object event types in SQL (migration 0005): a type
    added to the catalogue's OBJECT_EVENT_TYPES must be added there too."""
    with engine.connect() as conn:
        source = conn.execute(
            text("SELECT prosrc FROM pg_proc WHERE proname = 'dockyard_project_objects'")
        ).scalar_one()
    spelled = set(re.findall(r"'(Object[A-Za-z]+)'", source))
    assert spelled == set(OBJECT_EVENT_TYPES)
