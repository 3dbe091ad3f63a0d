"""Every recipe of docs/audit.md, run on a history written through the real write path."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from dockyard.audit.recipes import BY_KEY, RECIPES
from tests.audit.scenario import Scenario

DOCS = Path(__file__).resolve().parents[2] / "docs" / "audit.md"


def run(engine: Engine, key: str, **params: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.exec_driver_sql(BY_KEY[key].sql, params).mappings()]


def test_docs_show_every_recipe_verbatim() -> None:
    text = DOCS.read_text()
    assert len(RECIPES) >= 12
    for recipe in RECIPES:
        assert recipe.sql in text, f"docs/audit.md lacks recipe {recipe.key} verbatim"
    assert len(re.findall(r"^### \d+\.", text, flags=re.M)) >= 12


def test_who_scaled_to_zero(engine: Engine, scenario: Scenario) -> None:
    rows = run(engine, "scaled_to_zero", namespace="payments", name="api")
    assert [(r["actor"], r["verb"], r["request_id"], r["client_address"]) for r in rows] == [
        ("carol", "scale", "req-3", "10.0.0.9")
    ]


def test_changes_in_namespace_window(engine: Engine, scenario: Scenario) -> None:
    m = scenario.marks
    rows = run(
        engine,
        "namespace_window",
        namespace="payments",
        since=m["before_rollout"],
        until=m["before_delete"],
    )
    assert [(r["actor"], r["verb"], r["kind"], r["name"]) for r in rows] == [
        ("bob", "apply", "Deployment", "api"),
        ("carol", "scale", "Deployment", "api"),
        ("carol", "delete", "Pod", "api-7d9f-b"),
        ("system:node:node-2", "delete", "Pod", "api-7d9f-b"),
    ]
    assert rows[0]["changes"] == [
        {"path": "spec.template.spec.containers[0].image", "old": "busybox:1", "new": "busybox:2"}
    ]
    assert rows[1]["changes"] == [{"path": "spec.replicas", "old": 2, "new": 0}]
    assert [c["path"] for c in rows[2]["changes"]] == ["metadata.deletionTimestamp"]


def test_restarts_per_deployment_per_hour(engine: Engine, scenario: Scenario) -> None:
    rows = run(
        engine, "restarts_per_deployment_hour", namespace="payments", since=scenario.marks["start"]
    )
    assert sum(r["restarts"] for r in rows) == 3
    assert {r["deployment"] for r in rows} == {"api"}


def test_top_crash_looping(engine: Engine, scenario: Scenario) -> None:
    rows = run(engine, "top_crash_looping")
    assert [(r["pod"], r["container"], r["restarts"], sorted(r["reasons"])) for r in rows] == [
        ("api-7d9f-a", "app", 2, ["Error", "OOMKilled"]),
        ("api-7d9f-b", "app", 1, ["Error"]),
    ]


def test_image_at_a_time(engine: Engine, scenario: Scenario) -> None:
    # Agents reported container start times of 09:00 (and restarts minutes later).
    at = "2026-11-26T09:06:00Z"
    rows = run(engine, "image_at", namespace="payments", at=at)
    assert [(r["pod"], r["container"], r["image"]) for r in rows] == [
        ("api-7d9f-a", "app", "busybox:1"),
        ("api-7d9f-b", "app", "busybox:1"),
    ]
    assert rows[0]["started_at"].isoformat() == "2026-11-26T09:05:10+00:00"


def test_changes_before_crash_loop(engine: Engine, scenario: Scenario) -> None:
    rows = run(
        engine,
        "changes_before_crash_loop",
        namespace="payments",
        pod="api-7d9f-a",
        window="10 minutes",
    )
    assert [(r["actor"], r["kind"]) for r in rows][-1] == ("bob", "Deployment")
    assert rows[-1]["changes"][0]["new"] == "busybox:2"


def test_rollout_to_first_restart(engine: Engine, scenario: Scenario) -> None:
    rows = run(engine, "rollout_to_first_restart", namespace="payments", name="api")
    assert len(rows) == 1
    (row,) = rows
    assert row["actor"] == "bob"
    assert scenario.marks["before_rollout"] <= row["rolled_out_at"] <= scenario.marks["rollout"]
    assert row["rolled_out_at"] < row["first_restart"] <= scenario.marks["first_restart"]
    assert row["until_first_restart"] > timedelta(0)


def test_mean_time_between_restarts(engine: Engine, scenario: Scenario) -> None:
    rows = run(engine, "mean_time_between_restarts", namespace="payments", name="api")
    assert [(r["pod"], r["container"], r["restarts"]) for r in rows] == [("api-7d9f-a", "app", 2)]
    assert rows[0]["mean_time_between_restarts"] > timedelta(0)


def test_oom_kills_by_node(engine: Engine, scenario: Scenario) -> None:
    rows = run(engine, "oom_kills_by_node", since=scenario.marks["start"])
    assert rows == [{"node": "node-1", "oom_kills": 1}]


def test_changes_by_user(engine: Engine, scenario: Scenario) -> None:
    rows = run(engine, "changes_by_user", actor="alice")
    assert [(r["verb"], r["kind"], r["name"]) for r in rows] == [
        ("create", "Deployment", "api"),
        ("create", "Namespace", "payments"),
    ]
    created = rows[0]["changes"]
    assert {c["path"] for c in created} >= {"spec", "kind", "apiVersion"}


def test_deleted_by_whom(engine: Engine, scenario: Scenario) -> None:
    rows = run(engine, "deleted_by_whom", since=scenario.marks["start"])
    assert [(r["event_type"], r["kind"], r["name"], r["actor"]) for r in rows] == [
        ("ObjectDeletionRequested", "Pod", "api-7d9f-b", "carol"),
        ("ObjectDeleted", "Pod", "api-7d9f-b", "system:node:node-2"),
        ("ObjectDeleted", "Deployment", "api", "dave"),
    ]


def test_object_life(engine: Engine, scenario: Scenario) -> None:
    rows = run(engine, "object_life", namespace="payments", name="api")
    assert [(r["event_type"], r["actor"], r["replicas"], r["image"]) for r in rows] == [
        ("ObjectCreated", "alice", "2", "busybox:1"),
        ("ObjectUpdated", "bob", "2", "busybox:2"),
        ("ObjectUpdated", "carol", "0", "busybox:2"),
        ("ObjectDeleted", "dave", "0", "busybox:2"),
    ]


def test_object_at_is_what_get_returned(engine: Engine, scenario: Scenario) -> None:
    for at, body in scenario.gets:
        (row,) = run(engine, "object_at", namespace="payments", name="api", at=at)
        assert row["object"] == body
    (gone,) = run(engine, "object_at", namespace="payments", name="api", at=scenario.marks["end"])
    assert gone["object"] is None


def test_node_transitions(engine: Engine, scenario: Scenario) -> None:
    rows = run(engine, "node_transitions")
    assert [
        (r["node"], r["previous_ready"], r["ready"], r["ready_reason"], r["actor"]) for r in rows
    ] == [("node-2", "True", "False", "NodeStatusUnknown", "system:controller:node-lifecycle")]


def test_pod_restart_details(engine: Engine, scenario: Scenario) -> None:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT pod, node, owner_kind, owner_name, workload_kind, workload_name, "
            "restart_count, exit_code, reason, ran_for, image FROM pod_restarts ORDER BY position"
        ).all()
    assert [tuple(r) for r in rows] == [
        (
            "api-7d9f-a",
            "node-1",
            "ReplicaSet",
            "api-7d9f",
            "Deployment",
            "api",
            1,
            137,
            "OOMKilled",
            timedelta(minutes=5),
            "busybox:1",
        ),
        (
            "api-7d9f-a",
            "node-1",
            "ReplicaSet",
            "api-7d9f",
            "Deployment",
            "api",
            2,
            1,
            "Error",
            timedelta(minutes=2, seconds=50),
            "busybox:1",
        ),
        (
            "api-7d9f-b",
            "node-2",
            "ReplicaSet",
            "api-7d9f",
            "Deployment",
            "api",
            1,
            2,
            "Error",
            timedelta(minutes=2),
            "busybox:1",
        ),
    ]
