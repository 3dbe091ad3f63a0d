"""``dockyard_watch`` (migration 0010): what the API server's watch hubs rely on instead of
reading the log -- every committed object event, in position order, with its object (and, for
an update, the object before it); nothing of a write rolled back; the position alone for an
event too large for a notification."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

from dockyard.store.db import libpq_url
from dockyard.store.events import WATCH_CHANNEL, EventStore
from dockyard.store.writer import Actor, ObjectWriter

ACTOR = Actor(name="tester", source="test")


def _pod(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "busybox:latest"}]},
    }


def _received(listener: psycopg.Connection[Any], count: int) -> list[str]:
    got = [n.payload for n in listener.notifies(timeout=10, stop_after=count)]
    assert len(got) == count, got
    # Nothing more is on its way.
    assert [n.payload for n in listener.notifies(timeout=0.5)] == []
    return got


def test_committed_object_events_arrive_in_order_and_rolled_back_ones_never(
    store: EventStore, database_url: str
) -> None:
    writer = ObjectWriter(store)
    with psycopg.connect(libpq_url(database_url), autocommit=True) as listener:
        listener.execute(f"LISTEN {WATCH_CHANNEL}")
        with store.engine.begin() as conn:
            nested = conn.begin_nested()  # a group-commit write that fails is one of these
            writer.create_many_in(conn, [_pod("gone")], actor=ACTOR)
            nested.rollback()
            writer.create_many_in(conn, [_pod("kept", tier="web")], actor=ACTOR)
        with pytest.raises(RuntimeError), store.engine.begin() as conn:
            writer.create_many_in(conn, [_pod("never")], actor=ACTOR)
            raise RuntimeError("roll the whole transaction back")
        updated = writer.update(_pod("kept", tier="db"), actor=ACTOR)
        big = _pod("big")
        big["metadata"]["annotations"] = {"note": "x" * 9000}  # beyond a notification's 8,000
        created_big = writer.create(big, actor=ACTOR)

        created, modified, too_big = _received(listener, 3)

    position, _, text = created.partition("|")
    event = json.loads(text)
    assert event["type"] == "ObjectCreated" and event["before"] is None
    assert event["object"]["metadata"]["name"] == "kept"
    assert event["object"]["metadata"]["labels"] == {"tier": "web"}

    position2, _, text2 = modified.partition("|")
    event2 = json.loads(text2)
    assert int(position2) == int(updated["metadata"]["resourceVersion"]) > int(position)
    assert event2["type"] == "ObjectUpdated"
    assert event2["object"]["metadata"]["labels"] == {"tier": "db"}
    assert event2["before"]["metadata"]["labels"] == {"tier": "web"}  # selectors judge the pair

    assert too_big == created_big["metadata"]["resourceVersion"]  # the position alone
