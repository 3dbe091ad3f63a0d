"""`dockyard audit` and `dockyard history`, including bad input, and time travel's errors."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from dockyard.audit.queries import AuditInputError, NotAtThatTime, object_at, parse_time
from tests.audit.cli import run
from tests.audit.scenario import Scenario


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch, scenario: Scenario) -> Scenario:
    monkeypatch.setenv("DOCKYARD_DATABASE_URL", database_url)
    return scenario


def test_audit_filters_and_json(cli_env: Scenario, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        run(["audit", "--kind", "deploy", "-n", "payments", "--verb", "scale", "-o", "json"]) == 0
    )
    (line,) = capsys.readouterr().out.splitlines()
    row = json.loads(line)
    assert row["actor"] == "carol"
    assert row["changes"] == [{"path": "spec.replicas", "old": 2, "new": 0}]
    since = cli_env.marks["before_rollout"].isoformat()
    assert run(["audit", "--actor", "bob", "--since", since, "--until", "now"]) == 0
    out = capsys.readouterr().out
    assert "bob  apply  Deployment  payments  api" in out
    assert 'spec.template.spec.containers[0].image: "busybox:1" -> "busybox:2"' in out
    assert run(["audit", "--actor", "bob", "--since", "1s", "--columns", "actor"]) == 0


def test_history_timeline(cli_env: Scenario, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["history", "deployments", "api", "-n", "payments"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Deployment payments/api"
    assert [line.split()[3] for line in out if line.startswith("  rv")] == [
        "ObjectCreated",
        "ObjectUpdated",
        "ObjectUpdated",
        "ObjectDeleted",
    ]
    assert any("by carol (scale)" in line for line in out)
    assert "      spec.replicas: 2 -> 0" in out
    assert run(["history", "po", "api-7d9f-a", "-n", "payments"]) == 0
    pod = capsys.readouterr().out
    assert "status.containerStatuses[0].restartCount: 1 -> 2" in pod


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["audit", "--since", "yesterday-ish"], "--since: cannot parse 'yesterday-ish'"),
        (["audit", "--until", "2026-13-45"], "--until: cannot parse"),
        (["audit", "--kind", "widgets"], "unknown kind 'widgets'"),
        (["audit", "--columns", "actor,colour"], "unknown column(s) colour"),
        (["audit", "--limit", "0"], "--limit must be at least 1"),
        (["history", "gadget", "x"], "unknown kind 'gadget'"),
        (["history", "deploy", "nope", "-n", "payments"], "has no history (it never existed)"),
    ],
)
def test_bad_input(
    cli_env: Scenario, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert run(argv) == 1
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err
    assert captured.out == ""


def test_object_at_errors(engine: Engine, scenario: Scenario) -> None:
    with engine.connect() as conn:
        first = scenario.gets[0]
        assert object_at(conn, "Deployment", "payments", "api", first[0]) == first[1]
        with pytest.raises(NotAtThatTime, match="it was first created at"):
            object_at(conn, "Deployment", "payments", "api", first[0] - timedelta(hours=1))
        with pytest.raises(NotAtThatTime, match="it had been deleted"):
            object_at(conn, "Deployment", "payments", "api", scenario.marks["end"])
        with pytest.raises(NotAtThatTime, match="has never existed"):
            object_at(conn, "Deployment", "payments", "ghost", scenario.marks["end"])


def test_parse_time() -> None:
    now = parse_time("2026-11-26T10:00:00Z")
    assert parse_time("15m", now=now) == now - timedelta(minutes=15)
    assert parse_time("2026-11-26T10:00:00") == now
    with pytest.raises(AuditInputError):
        parse_time("soon")


def test_json_diff_function(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = conn.exec_driver_sql(
            """SELECT dockyard_json_diff(
                 '{"metadata": {"resourceVersion": "1", "labels": {"app.k8s.io/x": "a"}},
                   "spec": {"a": [1, 2]}, "status": {"x": 1}}',
                 '{"metadata": {"resourceVersion": "9", "labels": {"app.k8s.io/x": "b"}},
                   "spec": {"a": [1, 3, 4]}, "status": {"x": 2}}')"""
        ).scalar_one()
    assert diff == [
        {"path": 'metadata.labels."app.k8s.io/x"', "old": "a", "new": "b"},
        {"path": "spec.a[1]", "old": 2, "new": 3},
        {"path": "spec.a[2]", "old": None, "new": 4},
    ]
