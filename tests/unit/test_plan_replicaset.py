"""ReplicaSet planner (controllers/replicaset_plan.py): diff, claim, ranking, status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dockyard.controllers.replicaset_plan import (
    plan_replicaset,
    rank_pods_for_deletion,
    replicaset_status,
    slow_start_batches,
)
from dockyard.controllers.views import LabelSelector, PodView, ReplicaSetView

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
LABELS = {"app": "web"}


def rs(replicas: int = 3, **kwargs: object) -> ReplicaSetView:
    fields: dict[str, object] = {
        "uid": "rs-1",
        "name": "web",
        "replicas": replicas,
        "selector": LabelSelector(match_labels=LABELS),
        "template": {"metadata": {"labels": LABELS}},
    }
    fields.update(kwargs)
    return ReplicaSetView(**fields)  # type: ignore[arg-type]


def pod(name: str, **kwargs: object) -> PodView:
    fields: dict[str, object] = {
        "uid": f"uid-{name}",
        "name": name,
        "labels": LABELS,
        "owner_uid": "rs-1",
        "node_name": "n1",
        "phase": "Running",
        "ready": True,
        "ready_since": NOW - timedelta(hours=1),
        "created_at": NOW - timedelta(hours=2),
    }
    fields.update(kwargs)
    return PodView(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("count", "batches"),
    [(0, []), (1, [1]), (2, [1, 1]), (3, [1, 2]), (7, [1, 2, 4]), (10, [1, 2, 4, 3])],
)
def test_slow_start_batches_double_from_one(count: int, batches: list[int]) -> None:
    assert slow_start_batches(count) == batches
    assert sum(batches) == count


@pytest.mark.parametrize(
    ("replicas", "existing", "burst", "creates", "deletes"),
    [
        (3, 3, 500, 0, 0),
        (5, 3, 500, 2, 0),
        (1, 3, 500, 0, 2),
        (0, 3, 500, 0, 3),
        (1000, 0, 500, 500, 0),
        (10, 0, 4, 4, 0),
    ],
)
def test_diff_creates_or_deletes_within_burst(
    replicas: int, existing: int, burst: int, creates: int, deletes: int
) -> None:
    pods = [pod(f"p{i}") for i in range(existing)]
    plan = plan_replicaset(rs(replicas), pods, NOW, burst=burst)
    assert (plan.create.count if plan.create else 0) == creates
    assert len(plan.delete) == deletes
    if plan.create:
        assert plan.create.generate_name == "web-"
        assert sum(plan.create.batches) == creates
    assert [e.message for e in plan.events] == [f"Deleted pod: {p.name}" for p in plan.delete]
    assert all(e.reason == "SuccessfulDelete" for e in plan.events)


@pytest.mark.parametrize(
    ("extra", "active_count"),
    [
        (pod("done", phase="Succeeded"), 2),
        (pod("failed", phase="Failed"), 2),
        (pod("going", deletion_timestamp=NOW), 2),
        (pod("other-ns", namespace="prod"), 2),
        (pod("other-owner", owner_uid="rs-2"), 2),
        (pod("pending", phase="Pending", ready=False), 3),
    ],
)
def test_only_active_claimed_pods_count(extra: PodView, active_count: int) -> None:
    plan = plan_replicaset(rs(3), [pod("a"), pod("b"), extra], NOW)
    assert plan.status.replicas == active_count
    assert (plan.create.count if plan.create else 0) == 3 - active_count


def test_orphans_matching_the_selector_are_adopted_and_mismatches_released() -> None:
    orphan = pod("orphan", owner_uid=None)
    stranger = pod("stranger", owner_uid=None, labels={"app": "db"})
    relabelled = pod("relabelled", labels={"app": "db"})
    plan = plan_replicaset(rs(2), [pod("a"), orphan, stranger, relabelled], NOW)
    assert plan.adopt == (orphan,)
    assert plan.release == (relabelled,)
    assert plan.create is None and plan.delete == ()
    assert plan.status.replicas == 2


def test_replicaset_being_deleted_adopts_releases_and_acts_on_nothing() -> None:
    deleting = rs(5, deletion_timestamp=NOW)
    pods = [pod("a"), pod("orphan", owner_uid=None), pod("relabelled", labels={"x": "y"})]
    plan = plan_replicaset(deleting, pods, NOW)
    assert plan.is_noop
    assert plan.status.replicas == 1


def test_replication_controller_uses_an_equality_selector() -> None:
    rc = rs(2, kind="ReplicationController", selector=LabelSelector(match_labels={"app": "web"}))
    plan = plan_replicaset(rc, [pod("a", owner_uid=None, labels={"app": "web", "x": "1"})], NOW)
    assert len(plan.adopt) == 1 and plan.create is not None and plan.create.count == 1
    plan = plan_replicaset(rc, [pod("a")], NOW, burst=500)
    assert plan.events == ()


def test_nil_selector_matches_nothing() -> None:
    plan = plan_replicaset(rs(1, selector=None), [pod("a", owner_uid=None)], NOW)
    assert plan.adopt == () and plan.create is not None and plan.create.count == 1


H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("first", "second", "rule"),
    [
        (pod("x", node_name=""), pod("y"), "unassigned first"),
        (pod("x", phase="Pending", ready=False), pod("y", phase="Unknown", ready=False), "Pending"),
        (pod("x", phase="Unknown", ready=False), pod("y"), "Unknown before Running"),
        (pod("x", ready=False), pod("y"), "not ready first"),
        (pod("x", deletion_cost=-5), pod("y"), "lower deletion cost"),
        (pod("x", ready_since=NOW - timedelta(seconds=10)), pod("y"), "ready more recently"),
        (pod("x", ready_since=None), pod("y"), "zero ready time counts as newest"),
        (pod("x", restart_count=4), pod("y", restart_count=1), "more restarts"),
        (pod("x", created_at=NOW - timedelta(seconds=30)), pod("y"), "newer"),
    ],
)
def test_deletion_ranking_rules(first: PodView, second: PodView, rule: str) -> None:
    for order in ([first, second], [second, first]):
        ranked = rank_pods_for_deletion(order, now=NOW)
        assert [p.name for p in ranked] == ["x", "y"], rule


def test_deletion_ranking_prefers_pods_on_crowded_nodes() -> None:
    lonely = pod("lonely", node_name="n1")
    crowded = [pod(f"c{i}", node_name="n2") for i in range(3)]
    ranked = rank_pods_for_deletion([lonely, *crowded], now=NOW)
    assert ranked[-1].name == "lonely"


def test_logarithmic_buckets_tie_break_by_uid() -> None:
    # 100 s and 120 s ago fall in the same floor(log2(ns)) bucket: UID decides.
    a = pod("a", uid="uid-b", ready_since=NOW - timedelta(seconds=100))
    b = pod("b", uid="uid-a", ready_since=NOW - timedelta(seconds=120))
    assert [p.name for p in rank_pods_for_deletion([a, b], now=NOW)] == ["b", "a"]
    linear = rank_pods_for_deletion([a, b], now=NOW, logarithmic_scale_down=False)
    assert [p.name for p in linear] == ["a", "b"]


def test_scale_down_deletes_the_worst_pods() -> None:
    good = [pod(f"good{i}") for i in range(3)]
    bad = pod("bad", ready=False)
    unscheduled = pod("unscheduled", node_name="", phase="Pending", ready=False)
    plan = plan_replicaset(rs(3), [*good, bad, unscheduled], NOW)
    assert [p.name for p in plan.delete] == ["unscheduled", "bad"]


@pytest.mark.parametrize(
    ("min_ready", "ready_for", "available"),
    [(0, 0, 1), (10, 5, 0), (10, 10, 0), (10, 11, 1)],
)
def test_status_counts_available_after_min_ready_seconds(
    min_ready: int, ready_for: int, available: int
) -> None:
    pods = [
        pod("a", ready_since=NOW - timedelta(seconds=ready_for)),
        pod("b", ready=False),
        pod("c", labels={"app": "web", "extra": "1"}),
    ]
    status = replicaset_status(rs(3, min_ready_seconds=min_ready, generation=4), pods, NOW)
    assert status.replicas == 3
    assert status.ready_replicas == 2
    assert status.fully_labeled_replicas == 3
    assert status.available_replicas == available + 1  # "c" has been ready for an hour
    assert status.observed_generation == 4


def test_fully_labeled_needs_every_template_label() -> None:
    template = {"metadata": {"labels": {"app": "web", "tier": "front"}}}
    status = replicaset_status(rs(2, template=template), [pod("a"), pod("b")], NOW)
    assert status.replicas == 2 and status.fully_labeled_replicas == 0
