"""The first dockyard commands, run as a user runs them: a subprocess, real PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from dockyard.store.events import EventStore
from dockyard.store.writer import Actor, ObjectWriter
from tests.integration.test_writer import pod


def dockyard(*args: str, url: str | None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    if url is not None:
        env["DOCKYARD_DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "dockyard.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def assert_clean_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")
    for needle in needles:
        assert needle in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["db"],
        ["db", "upgrade"],
        ["db", "downgrade"],
        ["db", "current"],
        ["events"],
        ["events", "tail"],
        ["projections"],
        ["projections", "rebuild"],
        ["projections", "status"],
        ["up"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = dockyard(*command, "--help", url=None)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: dockyard")


def test_db_upgrade_then_current(empty_database_url: str) -> None:
    behind = dockyard("events", "tail", url=empty_database_url)
    assert_clean_error(behind, "run `dockyard db upgrade`")
    upgraded = dockyard("db", "upgrade", url=empty_database_url)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "empty -> 0" in upgraded.stdout
    current = dockyard("db", "current", url=empty_database_url)
    assert current.returncode == 0 and "up to date" in current.stdout
    again = dockyard("db", "upgrade", url=empty_database_url)
    assert "up to date" in again.stdout


def test_unreachable_database_is_one_clear_line() -> None:
    result = dockyard("events", "tail", url="postgresql://nobody@127.0.0.1:1/nothing")
    assert_clean_error(result, "cannot connect to PostgreSQL at postgresql://nobody@127.0.0.1:1")


def test_downgrade_needs_confirmation(database_url: str) -> None:
    result = dockyard("db", "downgrade", "base", url=database_url)
    assert result.returncode == 1 and "--yes" in result.stdout


def test_events_tail_text_json_and_after(database_url: str, store: EventStore) -> None:
    writer = ObjectWriter(store)
    first = writer.create(pod("web"), actor=Actor(name="alice"))
    writer.create(pod("db"), actor=Actor(name="bob"))
    text_out = dockyard("events", "tail", url=database_url)
    assert text_out.returncode == 0, text_out.stderr
    lines = text_out.stdout.splitlines()
    assert len(lines) == 2
    assert (
        "ObjectCreated" in lines[0] and "Pod default/web" in lines[0] and "actor=alice" in lines[0]
    )
    json_out = dockyard(
        "events",
        "tail",
        "-o",
        "json",
        "--after",
        first["metadata"]["resourceVersion"],
        url=database_url,
    )
    (record,) = [json.loads(line) for line in json_out.stdout.splitlines()]
    assert record["metadata"]["actor"] == "bob"
    assert record["data"]["object"]["metadata"]["name"] == "db"


def test_events_tail_follow_sees_new_events(database_url: str, store: EventStore) -> None:
    writer = ObjectWriter(store)
    writer.create(pod("before"), actor=Actor(name="alice"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    env["DOCKYARD_DATABASE_URL"] = database_url
    proc = subprocess.Popen(
        [sys.executable, "-m", "dockyard.cli.main", "events", "tail", "--follow", "--limit", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
    reader.start()
    deadline = time.monotonic() + 30
    while not lines and time.monotonic() < deadline:
        time.sleep(0.05)
    writer.create(pod("after-1"), actor=Actor(name="alice"))
    writer.create(pod("after-2"), actor=Actor(name="alice"))
    assert proc.wait(timeout=30) == 0
    reader.join(timeout=5)
    names = [line.split("Pod default/")[1].split()[0] for line in lines]
    assert names == ["before", "after-1", "after-2"]


def test_projections_rebuild_and_status(database_url: str, store: EventStore) -> None:
    writer = ObjectWriter(store)
    for i in range(5):
        writer.create(pod(f"p{i}"), actor=Actor(name="alice"))
    rebuilt = dockyard("projections", "rebuild", url=database_url)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout.startswith("objects: replayed 5 ")
    status = dockyard("projections", "status", url=database_url)
    assert "objects" in status.stdout and status.stdout.split()[-1] == "0"
    unknown = dockyard("projections", "rebuild", "nope", url=database_url)
    assert_clean_error(unknown, "no projection named 'nope'")
