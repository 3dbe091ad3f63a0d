"""Batch writes: many objects, one append, one projection pass, all-or-nothing checks."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.store.events import EventStore
from dockyard.store.writer import Actor, AlreadyExists, Conflict, NotFound, ObjectKey, ObjectWriter

ACTOR = Actor(name="tester", source="test")


def _pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "busybox:latest"}]},
    }


def test_create_many_is_one_append_and_reads_back(store: EventStore) -> None:
    writer = ObjectWriter(store)
    with store.engine.begin() as conn:
        created = writer.create_many_in(
            conn, [_pod("a"), _pod("b"), _pod("c")], actor=ACTOR, causation=[1, 2, None]
        )
    positions = [int(body["metadata"]["resourceVersion"]) for body in created]
    assert positions == list(range(positions[0], positions[0] + 3))
    events = store.read_all(after=positions[0] - 1)
    assert [e.metadata.get("causation") for e in events] == [1, 2, None]
    for body in created:
        stored = writer.get(ObjectKey.of(body))
        assert stored is not None and stored.uid == body["metadata"]["uid"]
        assert stored.resource_version == int(body["metadata"]["resourceVersion"])


def test_create_many_with_a_taken_name_writes_nothing(store: EventStore) -> None:
    writer = ObjectWriter(store)
    writer.create(_pod("taken"), actor=ACTOR)
    head = store.head_position()
    with store.engine.begin() as conn:
        with pytest.raises(AlreadyExists, match='pods "taken" already exists'):
            writer.create_many_in(conn, [_pod("new"), _pod("taken")], actor=ACTOR)
        # Nothing was written and the transaction is still usable.
        writer.create_many_in(conn, [_pod("new")], actor=ACTOR)
        with pytest.raises(ValueError, match="twice"):
            writer.create_many_in(conn, [_pod("x"), _pod("x")], actor=ACTOR)
    assert store.head_position() == head + 1


def test_update_many_checks_first_and_skips_unchanged(store: EventStore) -> None:
    writer = ObjectWriter(store)
    a, b = (writer.create(_pod(n), actor=ACTOR) for n in ("a", "b"))
    head = store.head_position()
    bound = {**a, "spec": {**a["spec"], "nodeName": "n1"}}
    with store.engine.begin() as conn:
        with pytest.raises(NotFound):
            writer.update_many_in(conn, [bound, _pod("missing")], actor=ACTOR)
        written = writer.update_many_in(conn, [bound, b], actor=ACTOR, verb="bind")
    assert store.head_position() == head + 1  # b was unchanged: nothing appended for it
    assert written[0]["spec"]["nodeName"] == "n1"
    assert written[1]["metadata"]["resourceVersion"] == b["metadata"]["resourceVersion"]
    stale = {**bound, "spec": {**bound["spec"], "nodeName": "n2"}}
    with store.engine.begin() as conn, pytest.raises(Conflict, match="modified"):
        writer.update_many_in(conn, [stale], actor=ACTOR)
    stored = writer.get(ObjectKey.of(a))
    assert stored is not None and stored.body["spec"]["nodeName"] == "n1"
