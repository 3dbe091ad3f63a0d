"""Standalone object writes: one statement each, group-committed, optimistic, all-or-nothing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, text

from dockyard.store.append_errors import ConcurrencyError, RequiredObject
from dockyard.store.event_types import ObjectCreated, ObjectPayload
from dockyard.store.events import EventStore, new_event
from dockyard.store.group_commit import PendingWrite
from dockyard.store.writer import (
    AlreadyExists,
    Conflict,
    NotFound,
    ObjectKey,
    ObjectWriter,
    Terminating,
)
from tests.integration.team import BOB, NS, namespace, pod


def in_threads(count: int, work: Callable[[int], object]) -> list[object]:
    """Run ``work(i)`` on ``count`` threads at once; each result or exception, by i."""
    results: list[object] = [None] * count
    start = threading.Barrier(count)

    def run(i: int) -> None:
        start.wait(10)
        try:
            results[i] = work(i)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
        assert not t.is_alive()
    return results


def count_events(engine: Engine, name: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM events "
                    "WHERE data -> 'object' -> 'metadata' ->> 'name' = :n"
                ),
                {"n": name},
            ).scalar_one()
        )


def test_concurrent_creates_all_land_with_distinct_positions(
    team_writer: ObjectWriter, engine: Engine
) -> None:
    results = in_threads(30, lambda i: team_writer.create(pod(f"p{i}"), actor=BOB, require=(NS,)))
    assert all(isinstance(r, dict) for r in results), results
    positions = [int(r["metadata"]["resourceVersion"]) for r in results]  # type: ignore[index]
    assert len(set(positions)) == 30
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT name, resource_version, stream_version FROM objects WHERE kind = 'Pod'")
        ).all()
    assert {(n, rv) for n, rv, _ in rows} == {
        (r["metadata"]["name"], int(r["metadata"]["resourceVersion"]))  # type: ignore[index]
        for r in results
    }
    assert {sv for *_, sv in rows} == {1}


def test_one_name_created_by_many_at_once_exists_once(
    team_writer: ObjectWriter, engine: Engine
) -> None:
    results = in_threads(12, lambda i: team_writer.create(pod("same"), actor=BOB, require=(NS,)))
    created = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, AlreadyExists)]
    assert len(created) == 1 and len(refused) == 11, results
    assert str(refused[0]) == 'pods "same" already exists'
    assert count_events(engine, "same") == 1  # the refused appends rolled back


def test_a_create_needs_its_namespace_live(team_writer: ObjectWriter, engine: Engine) -> None:
    with pytest.raises(NotFound, match='namespaces "nowhere" not found'):
        team_writer.create(
            pod("x", "nowhere"), actor=BOB, require=(RequiredObject("Namespace", "", "nowhere"),)
        )
    team_writer.delete(ObjectKey("Namespace", "", "team"), actor=BOB, graceful=True)
    with pytest.raises(Terminating, match="namespace team because it is being terminated"):
        team_writer.create(pod("late"), actor=BOB, require=(NS,))
    assert count_events(engine, "x") == 0 and count_events(engine, "late") == 0


def test_updates_without_a_resource_version_retry_and_all_land(
    team_writer: ObjectWriter, store: EventStore
) -> None:
    created = team_writer.create(pod("shared"), actor=BOB)
    stale = dict(created)
    stale["metadata"] = {k: v for k, v in created["metadata"].items() if k != "resourceVersion"}

    def label(i: int) -> object:
        body = dict(stale)
        body["metadata"] = {**stale["metadata"], "labels": {"writer": str(i)}}
        return team_writer.update(body, actor=BOB)

    results = in_threads(10, label)
    assert all(isinstance(r, dict) for r in results), results
    events = store.read_stream(created["metadata"]["uid"])
    assert len(events) == 11  # the create and every update, none lost to a conflict
    final = team_writer.get(ObjectKey("Pod", "team", "shared"))
    assert final is not None and final.stream_version == 11
    assert final.resource_version == events[-1].position
    assert final.body["metadata"]["labels"] == events[-1].data["object"]["metadata"]["labels"]


def test_updates_naming_one_resource_version_conflict_but_one(team_writer: ObjectWriter) -> None:
    created = team_writer.create(pod("contested"), actor=BOB)

    def label(i: int) -> object:
        body = dict(created)
        body["metadata"] = {**created["metadata"], "labels": {"writer": str(i)}}
        return team_writer.update(body, actor=BOB)

    results = in_threads(8, label)
    assert sum(isinstance(r, dict) for r in results) == 1, results
    assert sum(isinstance(r, Conflict) for r in results) == 7


def test_a_uid_that_is_not_the_stored_ones_conflicts(team_writer: ObjectWriter) -> None:
    created = team_writer.create(pod("named"), actor=BOB)
    body = dict(created)
    body["metadata"] = {**created["metadata"], "uid": "someone-else", "labels": {"a": "b"}}
    body["metadata"].pop("resourceVersion")
    with pytest.raises(Conflict, match="Precondition failed: UID in precondition: someone-else"):
        team_writer.update(body, actor=BOB)


def test_one_failed_write_in_a_batch_fails_alone(store: EventStore, engine: Engine) -> None:
    """Three writes in one group-committed batch: a stale expected version, a taken name, and
    one that is fine. Only the last is written."""
    writer = ObjectWriter(store)
    writer.create(namespace("team"), actor=BOB)
    taken = writer.create(pod("taken"), actor=BOB)

    def payload(name: str, expected: dict[str, int], project: bool) -> dict[str, Any]:
        obj = pod(name)
        obj["metadata"]["uid"] = f"uid-{name}"
        event = new_event(ObjectCreated, f"uid-{name}", ObjectPayload(object=obj))
        document = {
            "event_id": str(event.event_id),
            "stream_id": event.stream_id,
            "type": event.type,
            "schema_version": 1,
            "data": event.data,
            "metadata": {},
        }
        return {"events": [document], "expected": expected, "require": [], "project": project}

    batch = [
        PendingWrite(payload("stale", {taken["metadata"]["uid"]: 7}, project=False)),
        PendingWrite(payload("taken", {}, project=True)),
        PendingWrite(payload("fine", {}, project=True)),
    ]
    store._run_batch(batch)
    assert isinstance(batch[0].error, ConcurrencyError) and not batch[0].rows
    assert batch[1].error is not None and "taken" in str(batch[1].error) and not batch[1].rows
    assert batch[2].error is None and len(batch[2].rows) == 1
    assert count_events(engine, "stale") == 0 and count_events(engine, "fine") == 1
    assert count_events(engine, "taken") == 1  # the original create only
    assert writer.get(ObjectKey("Pod", "team", "fine")) is not None
