"""The event-loop write path (AsyncObjectWriter on AsyncEventStore) against real PostgreSQL:
the same rules as the sync writer, group-committed, and it survives a dropped connection."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
import pytest
from sqlalchemy import Engine, text

from dockyard.store.append_errors import RequiredObject
from dockyard.store.async_events import AsyncEventStore
from dockyard.store.async_writer import AsyncObjectWriter
from dockyard.store.writer import (
    AlreadyExists,
    Conflict,
    NotFound,
    ObjectKey,
    ObjectWriter,
    Terminating,
)
from tests.integration.team import BOB, NS, pod

T = TypeVar("T")


def run(database_url: str, scenario: Callable[[AsyncObjectWriter], Awaitable[T]]) -> T:
    async def main() -> T:
        writer = AsyncObjectWriter(AsyncEventStore(database_url))
        try:
            return await scenario(writer)
        finally:
            await writer.store.close()

    return asyncio.run(main())


def test_create_get_and_update_follow_the_sync_writers_rules(
    database_url: str, team_writer: ObjectWriter, engine: Engine
) -> None:
    async def scenario(writer: AsyncObjectWriter) -> None:
        created = await writer.create(pod("web"), actor=BOB, require=[NS])
        rv = int(created["metadata"]["resourceVersion"])
        stored = await writer.get(ObjectKey("Pod", "team", "web"))
        assert stored is not None and stored.resource_version == rv
        assert stored.uid == created["metadata"]["uid"]
        with pytest.raises(AlreadyExists):
            await writer.create(pod("web"), actor=BOB, require=[NS])
        with pytest.raises(NotFound):
            nowhere = RequiredObject("Namespace", "", "nowhere")
            await writer.create(pod("web", "nowhere"), actor=BOB, require=[nowhere])
        body = pod("web", tier="front")
        body["metadata"]["resourceVersion"] = str(rv)
        updated = await writer.update(body, actor=BOB, verb="patch")
        assert updated["metadata"]["labels"] == {"tier": "front"}
        assert int(updated["metadata"]["resourceVersion"]) > rv
        stale = pod("web", tier="back")
        stale["metadata"]["resourceVersion"] = str(rv)  # names the version before ours
        with pytest.raises(Conflict):
            await writer.update(stale, actor=BOB)

    run(database_url, scenario)
    # The sync writer sees the same object; the log holds one create and one update.
    stored = team_writer.get(ObjectKey("Pod", "team", "web"))
    assert stored is not None and stored.body["metadata"]["labels"] == {"tier": "front"}
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT type, metadata ->> 'actor', metadata ->> 'verb' FROM events "
                "WHERE stream_id = :uid ORDER BY position"
            ),
            {"uid": stored.uid},
        ).all()
    assert [tuple(r) for r in rows] == [
        ("ObjectCreated", "bob", "create"),
        ("ObjectUpdated", "bob", "patch"),
    ]


def test_an_update_without_a_resource_version_retries_past_a_concurrent_write(
    database_url: str, team_writer: ObjectWriter
) -> None:
    team_writer.create(pod("web"), actor=BOB)

    async def scenario(writer: AsyncObjectWriter) -> dict[str, Any]:
        read = await writer.get(ObjectKey("Pod", "team", "web"))
        # Someone else writes after our read: our first append expects a stale version.
        team_writer.update(pod("web", by="other"), actor=BOB)
        return await writer.update(pod("web", by="us"), actor=BOB, read=read)

    result = run(database_url, scenario)
    assert result["metadata"]["labels"] == {"by": "us"}
    stored = team_writer.get(ObjectKey("Pod", "team", "web"))
    assert stored is not None and stored.stream_version == 3


def test_concurrent_creates_share_batches_and_each_gets_its_own_outcome(
    database_url: str, team_writer: ObjectWriter
) -> None:
    async def scenario(writer: AsyncObjectWriter) -> list[object]:
        names = [f"p{i}" for i in range(30)] + ["p3"]  # one name twice: exactly one loses
        return list(
            await asyncio.gather(
                *(writer.create(pod(n), actor=BOB, require=[NS]) for n in names),
                return_exceptions=True,
            )
        )

    results = run(database_url, scenario)
    failures = [r for r in results if isinstance(r, Exception)]
    assert len(failures) == 1 and isinstance(failures[0], AlreadyExists)
    created = [r for r in results if isinstance(r, dict)]
    positions = {int(r["metadata"]["resourceVersion"]) for r in created}
    assert len(positions) == 30
    assert len(team_writer.get_many([ObjectKey("Pod", "team", f"p{i}") for i in range(30)])) == 30


def test_a_terminating_namespace_refuses_creates(
    database_url: str, team_writer: ObjectWriter
) -> None:
    team_writer.delete(ObjectKey("Namespace", "", "team"), actor=BOB, graceful=True)

    async def scenario(writer: AsyncObjectWriter) -> None:
        with pytest.raises(Terminating):
            await writer.create(pod("late"), actor=BOB, require=[NS])

    run(database_url, scenario)
    assert team_writer.get(ObjectKey("Pod", "team", "late")) is None


def test_writes_and_reads_reconnect_after_the_connection_is_dropped(
    database_url: str, team_writer: ObjectWriter, engine: Engine
) -> None:
    def drop_other_connections() -> None:
        with engine.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND backend_type = 'client backend'"
                )
            )

    async def scenario(writer: AsyncObjectWriter) -> None:
        await writer.create(pod("a"), actor=BOB, require=[NS])
        assert await writer.get(ObjectKey("Pod", "team", "a")) is not None
        await asyncio.to_thread(drop_other_connections)
        # The first use of each dropped connection fails (the caller sees the error) ...
        with pytest.raises(psycopg.OperationalError):
            await writer.create(pod("b"), actor=BOB, require=[NS])
        with pytest.raises(psycopg.OperationalError):
            await writer.get(ObjectKey("Pod", "team", "a"))
        # ... and the next one reconnects.
        await writer.create(pod("b"), actor=BOB, require=[NS])
        assert await writer.get(ObjectKey("Pod", "team", "b")) is not None

    run(database_url, scenario)
