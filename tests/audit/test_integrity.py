"""The auditor role reads views and nothing else; the hash chain detects tampering."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from dockyard.audit.seals import SealsProjection, verify
from dockyard.store.db import libpq_url
from dockyard.store.events import EventStore
from dockyard.store.projections import ProjectionRunner
from tests.audit.cli import run as main
from tests.audit.scenario import Scenario

VIEWS = (
    "audit_log",
    "object_history",
    "pod_restarts",
    "container_runs",
    "node_events",
    "alert_deliveries",
    "alert_dead_letters",
)


@pytest.fixture
def auditor_url(
    database_url: str, admin_url: str, monkeypatch: pytest.MonkeyPatch, scenario: Scenario
) -> Iterator[str]:
    user = f"auditor_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{user}" LOGIN')
    monkeypatch.setenv("DOCKYARD_DATABASE_URL", database_url)
    try:
        assert main(["db", "grant-auditor", "--user", user]) == 0
        yield make_url(database_url).set(username=user, password=None).render_as_string(False)
    finally:
        with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
            conn.execute(f'DROP OWNED BY "{user}"')
            conn.execute(f'DROP ROLE "{user}"')


def test_auditor_reads_views_only(auditor_url: str) -> None:
    with psycopg.connect(libpq_url(auditor_url), autocommit=True) as conn:
        for view in VIEWS:
            conn.execute(f"SELECT * FROM {view} LIMIT 5").fetchall()
        row = conn.execute(
            "SELECT dockyard_object_at('Namespace', '', 'payments', now())"
        ).fetchone()
        assert row is not None and row[0]["metadata"]["name"] == "payments"
        for table in (
            "events",
            "objects",
            "event_seals",
            "audit_restarts",
            "projection_checkpoints",
            "notify_outbox",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"SELECT 1 FROM {table} LIMIT 1")
        for write in (
            "DELETE FROM audit_log",
            "UPDATE object_history SET actor = 'x'",
            "INSERT INTO pod_restarts (pod) VALUES ('x')",
            "SELECT * FROM dockyard_append('[]'::jsonb, '{}'::jsonb)",
            "CREATE TABLE sneaky (x int)",
        ):
            with pytest.raises(
                (
                    psycopg.errors.InsufficientPrivilege,
                    psycopg.errors.ReadOnlySqlTransaction,
                    psycopg.errors.ObjectNotInPrerequisiteState,  # views are not updatable
                )
            ):
                conn.execute(write)


def test_grant_auditor_unknown_user(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOCKYARD_DATABASE_URL", database_url)
    assert main(["audit", "grant-auditor", "--user", "nobody_here"]) == 1
    assert "does not exist" in capsys.readouterr().err


def _as_owner(engine: Engine, statement: str) -> None:
    """What only the table owner can do: switch the append-only trigger off for a moment."""
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE events DISABLE TRIGGER events_append_only")
        conn.exec_driver_sql(statement)
        conn.exec_driver_sql("ALTER TABLE events ENABLE TRIGGER events_append_only")


def test_untouched_log_verifies(engine: Engine, scenario: Scenario) -> None:
    with engine.connect() as conn:
        result = verify(conn)
        assert result.ok, result.problems
        assert result.checked == 18 and result.unsealed == 0
        again = verify(conn, expect_head=(result.sealed_head, result.head_chain))
    assert again.ok


def test_altered_event_is_detected(engine: Engine, scenario: Scenario) -> None:
    with engine.connect() as conn:
        target = conn.exec_driver_sql(
            "SELECT position FROM audit_log WHERE actor = 'carol' AND verb = 'scale'"
        ).scalar_one()
    _as_owner(
        engine,
        f"UPDATE events SET metadata = jsonb_set(metadata, '{{actor}}', '\"alice\"') "
        f"WHERE position = {target}",
    )
    with engine.connect() as conn:
        result = verify(conn)
    assert not result.ok
    assert result.problems == [f"position {target}: event was altered after sealing"]


def test_removed_event_is_detected(engine: Engine, scenario: Scenario) -> None:
    with engine.connect() as conn:
        target = conn.exec_driver_sql(
            "SELECT position FROM audit_log WHERE actor = 'dave'"
        ).scalar_one()
    _as_owner(engine, f"DELETE FROM events WHERE position = {target}")
    with engine.connect() as conn:
        result = verify(conn)
    assert result.problems == [f"position {target}: sealed event was removed"]


def test_rewritten_and_resealed_log_fails_the_recorded_head(
    engine: Engine, scenario: Scenario
) -> None:
    with engine.connect() as conn:
        recorded = verify(conn)
    _as_owner(
        engine,
        'UPDATE events SET metadata = metadata || \'{"actor": "mallory"}\' WHERE position = 1',
    )
    with engine.begin() as conn:  # the attacker re-seals everything
        conn.exec_driver_sql("DELETE FROM event_seals")
    store = EventStore(engine)
    runner = ProjectionRunner(engine, store, [SealsProjection()])
    runner.rebuild(runner.get("event_seals"))
    store.dispose()
    with engine.connect() as conn:
        assert verify(conn).ok  # self-consistent again ...
        result = verify(conn, expect_head=(recorded.sealed_head, recorded.head_chain))
    assert not result.ok  # ... but not the head recorded elsewhere
    assert "rewritten and re-sealed" in result.problems[-1]


def test_verify_command(
    database_url: str,
    engine: Engine,
    scenario: Scenario,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DOCKYARD_DATABASE_URL", database_url)
    assert main(["audit", "verify"]) == 0
    assert capsys.readouterr().out.startswith("OK:")
    _as_owner(engine, "DELETE FROM events WHERE position = 3")
    assert main(["audit", "verify"]) == 1
    out = capsys.readouterr().out
    assert "TAMPERED: position 3: sealed event was removed" in out and "FAILED" in out
    assert main(["audit", "verify", "--expect-head", "nonsense"]) == 1
