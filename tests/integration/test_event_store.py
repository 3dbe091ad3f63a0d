"""The event store against a real PostgreSQL: appends, conflicts, reads, append-only."""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest
from sqlalchemy import Engine

from dockyard.store.append_errors import ConcurrencyError, DuplicateEventError
from dockyard.store.db import libpq_url
from dockyard.store.event_types import ObjectCreated, ObjectPayload, ObjectUpdated
from dockyard.store.events import NO_STREAM, EventStore, NewEvent, new_event


def pod_event(stream: str, name: str = "web", **meta: str) -> NewEvent:
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "uid": stream}}
    return new_event(ObjectCreated, stream, ObjectPayload(object=body), metadata=meta)


def test_append_assigns_positions_and_versions(store: EventStore) -> None:
    recorded = store.append([pod_event("a"), pod_event("b"), pod_event("a")])
    assert [(e.stream_id, e.version) for e in recorded] == [("a", 1), ("b", 1), ("a", 2)]
    positions = [e.position for e in recorded]
    assert positions == sorted(positions) and len(set(positions)) == 3
    assert store.head_position() == positions[-1]
    assert [e.version for e in store.read_stream("a")] == [1, 2]
    assert store.stream_version("a") == 2 and store.stream_version("nope") == 0


def test_read_all_after_position_with_types_and_limit(store: EventStore) -> None:
    first = store.append([pod_event("a")])[0]
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}}
    store.append([new_event(ObjectUpdated, "a", ObjectPayload(object=body))])
    store.append([pod_event("b")])
    after_first = store.read_all(after=first.position)
    assert [e.stream_id for e in after_first] == ["a", "b"]
    assert [e.type for e in store.read_all(types=["ObjectUpdated"])] == ["ObjectUpdated"]
    assert len(store.read_all(limit=2)) == 2


def test_metadata_and_payload_round_trip(store: EventStore) -> None:
    store.append([pod_event("a", actor="alice", request_id="r1")])
    (event,) = store.read_stream("a")
    assert event.metadata == {"actor": "alice", "request_id": "r1"}
    assert event.payload(ObjectCreated).object["metadata"]["name"] == "web"
    with pytest.raises(TypeError):
        event.payload(ObjectUpdated)


def test_stale_expected_version_raises_and_writes_nothing(store: EventStore) -> None:
    store.append([pod_event("a")], expected={"a": NO_STREAM})
    head = store.head_position()
    with pytest.raises(ConcurrencyError) as caught:
        # One good stream and one stale one: the whole append must fail.
        store.append([pod_event("b"), pod_event("a")], expected={"b": NO_STREAM, "a": 0})
    assert caught.value.stream_id == "a"
    assert (caught.value.expected, caught.value.actual) == (0, 1)
    assert "expected 0" in str(caught.value)
    assert store.head_position() == head
    assert store.read_stream("b") == []


@pytest.mark.parametrize("project", [False, True], ids=["append", "append_and_project"])
def test_one_event_checks_the_expected_versions_of_other_streams(
    store: EventStore, project: bool
) -> None:
    # One event, expectations on its own stream and on another one (a guard stream): the
    # one-event paths check both, as the general path does.
    append = store.append_and_project if project else store.append
    append([pod_event("guard")])
    head = store.head_position()
    with pytest.raises(ConcurrencyError) as caught:
        append([pod_event("b", name="b")], expected={"b": NO_STREAM, "guard": 0})
    assert (caught.value.stream_id, caught.value.expected, caught.value.actual) == ("guard", 0, 1)
    with pytest.raises(ConcurrencyError) as caught:
        append([pod_event("b", name="b")], expected={"guard": 1, "b": 3})
    assert (caught.value.stream_id, caught.value.expected, caught.value.actual) == ("b", 3, 0)
    assert store.head_position() == head
    (event,) = append([pod_event("b", name="b")], expected={"guard": 1, "b": NO_STREAM})
    assert (event.stream_id, event.version) == ("b", 1)
    (event,) = append([pod_event("b", name="b")], expected={})
    assert event.version == 2


def test_expected_version_ahead_of_stream_is_a_conflict(store: EventStore) -> None:
    store.append([pod_event("a")])
    with pytest.raises(ConcurrencyError):
        store.append([pod_event("a")], expected={"a": 5})


def test_duplicate_event_id_is_rejected(store: EventStore) -> None:
    event = pod_event("a")
    store.append([event])
    with pytest.raises(DuplicateEventError):
        store.append([event])
    assert store.stream_version("a") == 1


def test_unknown_event_type_is_refused_before_writing(store: EventStore) -> None:
    with pytest.raises(ValueError, match="not in the catalogue"):
        store.append([NewEvent(stream_id="a", type="NoSuchThing", data={})])
    assert store.head_position() == 0


def test_optimistic_concurrency_under_contention(store: EventStore) -> None:
    """Many writers race on one stream with expected versions: exactly one wins each version."""
    store.append([pod_event("hot")])
    wins: list[int] = []
    conflicts = 0
    lock = threading.Lock()

    def writer() -> None:
        nonlocal conflicts
        for _ in range(15):
            version = store.stream_version("hot")
            try:
                (event,) = store.append([pod_event("hot")], expected={"hot": version})
            except ConcurrencyError:
                with lock:
                    conflicts += 1
            else:
                with lock:
                    wins.append(event.version)

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    versions = [e.version for e in store.read_stream("hot")]
    assert versions == list(range(1, len(versions) + 1))
    assert sorted(wins) == versions[1:]  # every success is exactly one version, no duplicates
    assert len(wins) + conflicts == 8 * 15
    assert conflicts > 0  # contention actually happened


@pytest.mark.parametrize(
    ("statement", "operation"),
    [
        ("UPDATE events SET type = 'X'", "UPDATE"),
        ("DELETE FROM events", "DELETE"),
        ("TRUNCATE events", "TRUNCATE"),
    ],
)
def test_events_are_append_only(
    store: EventStore, database_url: str, statement: str, operation: str
) -> None:
    store.append([pod_event("a")])
    with psycopg.connect(libpq_url(database_url)) as conn:
        with pytest.raises(psycopg.Error) as caught:
            conn.execute(statement)
    assert f"append-only: {operation} is not allowed" in str(caught.value)
    assert len(store.read_all()) == 1


def test_insert_around_the_append_function_is_refused(database_url: str) -> None:
    with psycopg.connect(libpq_url(database_url)) as conn:
        with pytest.raises(psycopg.Error, match="only through dockyard_append"):
            conn.execute(
                "INSERT INTO events (event_id, stream_id, version, type, data, recorded_at) "
                "VALUES (%s, 'a', 1, 'ObjectCreated', '{}', now())",
                (uuid.uuid4(),),
            )


def test_append_joins_the_callers_transaction(store: EventStore, engine: Engine) -> None:
    with pytest.raises(RuntimeError):
        with engine.begin() as conn:
            store.append([pod_event("a")], conn=conn)
            raise RuntimeError("abort")
    assert store.head_position() == 0
    with engine.begin() as conn:
        store.append([pod_event("a")], conn=conn)
    assert store.stream_version("a") == 1
