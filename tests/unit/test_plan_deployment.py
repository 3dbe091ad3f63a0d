"""Deployment planner (controllers/deployment_*.py): arithmetic, rollouts, conditions."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dockyard.controllers import deployment_util as du
from dockyard.controllers.deployment_plan import (
    CreateReplicaSet,
    DeleteReplicaSet,
    DeploymentPlan,
    ScaleReplicaSet,
    UpdateReplicaSet,
    plan_deployment,
)
from dockyard.controllers.deployment_rollback import plan_rollback
from dockyard.controllers.deployment_util import DeploymentView
from dockyard.controllers.names import pod_template_hash
from dockyard.controllers.replicaset_plan import plan_replicaset, replicaset_status
from dockyard.controllers.views import (
    Condition,
    LabelSelector,
    PodView,
    ReplicaSetStatus,
    ReplicaSetView,
    set_condition,
)

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
SELECTOR = LabelSelector(match_labels={"app": "web"})


def template(image: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"image": image}]}}


def deployment(**kwargs: Any) -> DeploymentView:
    fields: dict[str, Any] = {
        "uid": "d-1",
        "name": "web",
        "replicas": 3,
        "selector": SELECTOR,
        "template": template("nginx:1"),
    }
    fields.update(kwargs)
    return DeploymentView(**fields)


# --- arithmetic -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("surge", "unavailable", "desired", "expected"),
    [
        ("25%", "25%", 3, (1, 0)),
        ("25%", "25%", 10, (3, 2)),
        ("25%", "25%", 4, (1, 1)),
        ("25%", "25%", 1, (1, 0)),
        ("0%", "0%", 5, (0, 1)),
        (0, 0, 5, (0, 1)),
        ("0%", "1%", 2, (0, 1)),
        ("1%", "25%", 2, (1, 0)),
        (2, "50%", 5, (2, 2)),
        ("100%", 0, 3, (3, 0)),
        ("25%", "25%", 0, (0, 1)),
        (None, None, 3, (0, 1)),
    ],
)
def test_resolve_fenceposts(
    surge: Any, unavailable: Any, desired: int, expected: tuple[int, int]
) -> None:
    assert du.resolve_fenceposts(surge, unavailable, desired) == expected


@pytest.mark.parametrize("value", ["25", "x%", "2.5%"])
def test_scaled_value_rejects_non_percentages(value: str) -> None:
    with pytest.raises(ValueError):
        du.scaled_value(value, 10, round_up=True)


def test_max_unavailable_is_capped_and_zero_for_recreate() -> None:
    assert du.max_unavailable(deployment(replicas=2, max_unavailable=5)) == 2
    assert du.max_unavailable(deployment(strategy="Recreate")) == 0
    assert du.max_surge(deployment(strategy="Recreate")) == 0
    assert du.max_unavailable(deployment(replicas=0)) == 0


# --- a small cluster simulation ---------------------------------------------------------


@dataclass
class Cluster:
    """Deployment + ReplicaSet controllers and a fake kubelet, advanced one second per tick."""

    d: DeploymentView
    ready_after: int = 3
    rss: dict[str, ReplicaSetView] = field(default_factory=dict)
    pods: dict[str, PodView] = field(default_factory=dict)
    now: datetime = T0
    uids: itertools.count[int] = field(default_factory=itertools.count)
    events: list[str] = field(default_factory=list)
    broken_images: set[str] = field(default_factory=set)

    def apply(self, plan: DeploymentPlan) -> None:
        for action in plan.actions:
            if isinstance(action, CreateReplicaSet):
                new = replace(action.replica_set, uid=f"rs-{next(self.uids)}")
                self.rss[new.name] = new
            elif isinstance(action, ScaleReplicaSet):
                rs = self.rss[action.name]
                assert rs.replicas == action.from_replicas
                self.rss[action.name] = replace(
                    rs, replicas=action.to_replicas, annotations=action.annotations
                )
            elif isinstance(action, UpdateReplicaSet):
                rs = self.rss[action.name]
                self.rss[action.name] = replace(rs, annotations=action.annotations)
            elif isinstance(action, DeleteReplicaSet):
                del self.rss[action.name]
        if plan.annotations is not None:
            self.d = replace(self.d, annotations=plan.annotations)
        self.d = replace(self.d, status=plan.status)
        self.events.extend(e.message for e in plan.events)

    def run_replicasets(self) -> None:
        for name, rs in list(self.rss.items()):
            plan = plan_replicaset(rs, self.pods.values(), self.now)
            for victim in plan.delete:
                del self.pods[victim.uid]
            if plan.create is not None:
                image = rs.template["spec"]["containers"][0]["image"]
                for _ in range(plan.create.count):
                    uid = f"pod-{next(self.uids)}"
                    self.pods[uid] = PodView(
                        uid=uid,
                        name=f"{name}-{uid}",
                        labels=rs.template_labels,
                        owner_uid=rs.uid,
                        node_name="n1",
                        phase="Running",
                        created_at=self.now,
                        restart_count=9 if image in self.broken_images else 0,
                    )
        self.refresh_status()

    def refresh_status(self) -> None:
        for name, rs in self.rss.items():
            status = replicaset_status(rs, self.pods.values(), self.now)
            self.rss[name] = replace(rs, status=status)

    def kubelet(self) -> None:
        for uid, p in self.pods.items():
            broken = p.restart_count > 0
            due = p.created_at is not None and self.now - p.created_at >= timedelta(
                seconds=self.ready_after
            )
            if not p.ready and due and not broken:
                self.pods[uid] = replace(p, ready=True, ready_since=self.now)
        self.refresh_status()

    def tick(self) -> DeploymentPlan:
        plan = plan_deployment(self.d, self.rss.values(), self.pods.values(), self.now)
        self.apply(plan)
        self.run_replicasets()
        self.now += timedelta(seconds=1)
        self.kubelet()
        return plan

    def available(self) -> int:
        return sum(rs.status.available_replicas for rs in self.rss.values())

    def new_rs(self) -> ReplicaSetView:
        new = self.find_new_rs()
        assert new is not None
        return new

    def find_new_rs(self) -> ReplicaSetView | None:
        return next(
            (rs for rs in self.rss.values() if du.equal_ignore_hash(rs.template, self.d.template)),
            None,
        )

    def converged(self) -> bool:
        new = self.find_new_rs()
        if new is None:
            return False
        others = [rs for rs in self.rss.values() if rs.name != new.name]
        return (
            new.replicas == self.d.replicas
            and new.status.available_replicas == self.d.replicas
            and all(rs.replicas == 0 and rs.status.replicas == 0 for rs in others)
        )

    def settle(self, limit: int = 200) -> int:
        for step in range(limit):
            self.tick()
            if self.converged() and self.progressing_reason() == "NewReplicaSetAvailable":
                return step
        raise AssertionError("did not converge")

    def progressing_reason(self) -> str | None:
        cond = next((c for c in self.d.status.conditions if c.type == "Progressing"), None)
        return cond.reason if cond else None


ROLLING_ROWS = [
    (3, "25%", "25%"),
    (10, "25%", "25%"),
    (10, 3, 2),
    (5, 0, 1),
    (5, 1, 0),
    (4, "50%", "50%"),
    (1, "25%", "25%"),
    (7, "100%", 0),
    (6, 0, "100%"),
]


@pytest.mark.parametrize(("replicas", "surge", "unavailable"), ROLLING_ROWS)
def test_rolling_update_stays_within_surge_and_unavailability(
    replicas: int, surge: Any, unavailable: Any
) -> None:
    cluster = Cluster(deployment(replicas=replicas, max_surge=surge, max_unavailable=unavailable))
    cluster.settle()
    assert cluster.d.annotations[du.REVISION_ANNOTATION] == "1"
    max_surge, max_unavailable = du.resolve_fenceposts(surge, unavailable, replicas)
    cluster.d = replace(cluster.d, template=template("nginx:2"), generation=2)
    steps = 0
    while not cluster.converged() or cluster.progressing_reason() != "NewReplicaSetAvailable":
        cluster.tick()
        steps += 1
        assert steps < 300, "rollout did not converge"
        total_spec = sum(rs.replicas for rs in cluster.rss.values())
        assert total_spec <= replicas + max_surge
        assert len(cluster.pods) <= replicas + max_surge
        assert cluster.available() >= replicas - max_unavailable
    assert cluster.d.annotations[du.REVISION_ANNOTATION] == "2"
    status = cluster.d.status
    assert (status.replicas, status.updated_replicas, status.available_replicas) == (
        replicas,
        replicas,
        replicas,
    )
    assert status.unavailable_replicas == 0 and status.observed_generation == 2
    new = cluster.new_rs()
    assert new.name == f"web-{new.template['metadata']['labels']['pod-template-hash']}"
    assert new.annotations[du.REVISION_ANNOTATION] == "2"
    assert new.selector is not None and "pod-template-hash" in new.selector.match_labels
    assert any(m.startswith(f"Scaled up replica set {new.name} from 0 to") for m in cluster.events)


def test_first_sync_creates_the_replicaset_with_conditions_and_event() -> None:
    plan = plan_deployment(deployment(), [], [], T0)
    (create,) = plan.actions
    assert isinstance(create, CreateReplicaSet)
    rs = create.replica_set
    assert rs.replicas == 3 and rs.owner_uid == "d-1"
    assert rs.annotations == {
        du.REVISION_ANNOTATION: "1",
        du.DESIRED_REPLICAS_ANNOTATION: "3",
        du.MAX_REPLICAS_ANNOTATION: "4",
    }
    assert [e.message for e in plan.events] == [f"Scaled up replica set {rs.name} from 0 to 3"]
    assert plan.annotations == {du.REVISION_ANNOTATION: "1"}
    conditions = {c.type: (c.status, c.reason, c.message) for c in plan.status.conditions}
    assert conditions["Progressing"] == (
        "True",
        "NewReplicaSetCreated",
        f'Created new replica set "{rs.name}"',
    )
    assert conditions["Available"] == (
        "False",
        "MinimumReplicasUnavailable",
        "Deployment does not have minimum availability.",
    )


def test_converged_deployment_reports_complete_and_available() -> None:
    cluster = Cluster(deployment())
    cluster.settle()
    conditions = {c.type: c for c in cluster.d.status.conditions}
    assert conditions["Available"].reason == "MinimumReplicasAvailable"
    assert conditions["Available"].message == "Deployment has minimum availability."
    assert conditions["Progressing"].message == (
        f'ReplicaSet "{cluster.new_rs().name}" has successfully progressed.'
    )
    quiet = plan_deployment(cluster.d, cluster.rss.values(), cluster.pods.values(), cluster.now)
    assert quiet.actions == () and not quiet.status_changed and quiet.events == ()


def test_recreate_scales_old_to_zero_and_waits_for_pods_before_the_new_one() -> None:
    cluster = Cluster(deployment(strategy="Recreate", replicas=4))
    cluster.settle()
    old = cluster.new_rs()
    cluster.d = replace(cluster.d, template=template("nginx:2"), generation=2)
    plan = cluster.tick()
    assert [type(a) for a in plan.actions] == [ScaleReplicaSet]
    assert f"Scaled down replica set {old.name} from 4 to 0" in cluster.events
    # A terminating old pod keeps the new ReplicaSet from being created.
    lingering = PodView(
        uid="ghost",
        name="ghost",
        owner_uid=old.uid,
        labels={"x": "y"},
        phase="Running",
        deletion_timestamp=cluster.now,
    )
    plan = plan_deployment(cluster.d, cluster.rss.values(), [lingering], cluster.now)
    assert plan.actions == ()
    plan = cluster.tick()
    assert isinstance(plan.actions[0], CreateReplicaSet)
    assert plan.actions[0].replica_set.replicas == 4
    cluster.settle()
    assert cluster.available() == 4


def test_unhealthy_old_replicas_are_cleaned_up_first() -> None:
    cluster = Cluster(deployment(replicas=4, max_surge=1, max_unavailable=0))
    cluster.settle()
    cluster.broken_images.add("nginx:2")
    cluster.d = replace(cluster.d, template=template("nginx:2"), generation=2)
    for _ in range(30):
        cluster.tick()
        assert cluster.available() >= 4
    # The broken rollout holds: one surge pod never becomes available, old pods stay.
    assert cluster.new_rs().replicas == 1
    # Rolling over to a fixed template scales the broken ReplicaSet's unhealthy pods away.
    cluster.d = replace(cluster.d, template=template("nginx:3"), generation=3)
    cluster.settle()
    assert cluster.d.annotations[du.REVISION_ANNOTATION] == "3"


def test_progress_deadline_exceeded() -> None:
    cluster = Cluster(deployment(replicas=2, progress_deadline_seconds=10))
    cluster.settle()
    cluster.broken_images.add("nginx:bad")
    cluster.d = replace(cluster.d, template=template("nginx:bad"), generation=2)
    for _ in range(30):
        cluster.tick()
    progressing = next(c for c in cluster.d.status.conditions if c.type == "Progressing")
    assert (progressing.status, progressing.reason) == ("False", "ProgressDeadlineExceeded")
    assert progressing.message == (
        f'ReplicaSet "{cluster.new_rs().name}" has timed out progressing.'
    )


def test_no_progress_deadline_removes_the_progressing_condition() -> None:
    plan = plan_deployment(deployment(progress_deadline_seconds=None), [], [], T0)
    assert [c.type for c in plan.status.conditions] == ["Available"]


def test_paused_deployment_does_not_roll_out_but_scales() -> None:
    cluster = Cluster(deployment(replicas=4))
    cluster.settle()
    cluster.d = replace(cluster.d, paused=True, template=template("nginx:2"), generation=2)
    plan = cluster.tick()
    assert not any(isinstance(a, CreateReplicaSet) for a in plan.actions)
    progressing = next(c for c in cluster.d.status.conditions if c.type == "Progressing")
    assert (progressing.status, progressing.reason, progressing.message) == (
        "Unknown",
        "DeploymentPaused",
        "Deployment is paused",
    )
    cluster.d = replace(cluster.d, replicas=6, generation=3)
    cluster.tick()
    assert sum(rs.replicas for rs in cluster.rss.values()) == 6
    cluster.d = replace(cluster.d, paused=False, generation=4)
    plan = cluster.tick()
    assert any(isinstance(a, CreateReplicaSet) for a in plan.actions)
    cluster.settle()
    assert cluster.new_rs().template["spec"]["containers"][0]["image"] == "nginx:2"


def test_resuming_a_stuck_rollout_reports_deployment_resumed() -> None:
    cluster = Cluster(deployment(replicas=2, max_surge=1, max_unavailable=0))
    cluster.settle()
    cluster.broken_images.add("nginx:bad")
    cluster.d = replace(cluster.d, template=template("nginx:bad"), generation=2)
    for _ in range(5):
        cluster.tick()
    cluster.d = replace(cluster.d, paused=True)
    cluster.tick()
    cluster.d = replace(cluster.d, paused=False)
    cluster.tick()
    progressing = next(c for c in cluster.d.status.conditions if c.type == "Progressing")
    assert (progressing.status, progressing.reason, progressing.message) == (
        "Unknown",
        "DeploymentResumed",
        "Deployment is resumed",
    )


def rs_view(name: str, replicas: int, created: int, revision: int, **kwargs: Any) -> ReplicaSetView:
    annotations = {
        du.REVISION_ANNOTATION: str(revision),
        du.DESIRED_REPLICAS_ANNOTATION: "10",
        du.MAX_REPLICAS_ANNOTATION: "13",
    }
    fields: dict[str, Any] = {
        "uid": f"uid-{name}",
        "name": name,
        "replicas": replicas,
        "owner_uid": "d-1",
        "template": template(f"img-{name}"),
        "annotations": annotations,
        "created_at": T0 + timedelta(minutes=created),
    }
    fields.update(kwargs)
    return ReplicaSetView(**fields)


@pytest.mark.parametrize(
    ("new_replicas", "sizes_before", "sizes_after"),
    [
        # A rollout of 10 (surge 3, so max-replicas 13) scaled to 15: 13 → 18 split by share
        # round(8 * 18 / 13) = 11 and round(5 * 18 / 13) = 7; leftovers go to the largest.
        (15, {"a": 5, "b": 8}, {"a": 7, "b": 11}),
        (20, {"a": 5, "b": 8}, {"a": 9, "b": 14}),
        (5, {"a": 5, "b": 8}, {"a": 3, "b": 5}),
        (0, {"a": 5, "b": 8}, {"a": 0, "b": 0}),
    ],
)
def test_paused_deployment_scales_proportionally(
    new_replicas: int, sizes_before: dict[str, int], sizes_after: dict[str, int]
) -> None:
    d = deployment(
        replicas=new_replicas,
        paused=True,
        max_surge=3,
        max_unavailable=2,
        template=template("img-b"),
    )
    rss = [rs_view("a", sizes_before["a"], 0, 1), rs_view("b", sizes_before["b"], 1, 2)]
    plan = plan_deployment(d, rss, [], T0)
    after = {a.name: a.to_replicas for a in plan.actions if isinstance(a, ScaleReplicaSet)}
    assert after == sizes_after
    total = sum(after.values())
    expected_total = new_replicas + du.max_surge(d) if new_replicas else 0
    assert total == expected_total


def test_scaling_event_is_detected_from_desired_replicas_annotation() -> None:
    d = deployment(replicas=10, max_surge=3, max_unavailable=2, template=template("img-b"))
    rss = [rs_view("a", 5, 0, 1), rs_view("b", 8, 1, 2)]
    plan = plan_deployment(replace(d, replicas=20), rss, [], T0)
    assert {a.name: a.to_replicas for a in plan.actions if isinstance(a, ScaleReplicaSet)} == {
        "a": 9,
        "b": 14,
    }
    assert "Scaled up replica set b from 8 to 14" in [e.message for e in plan.events]


def test_revision_history_limit_deletes_oldest_empty_replicasets() -> None:
    d = deployment(replicas=1, revision_history_limit=2, template=template("img-new"))
    old = [
        rs_view(f"old{i}", 0, i, i + 1, status=ReplicaSetStatus(observed_generation=1))
        for i in range(4)
    ]
    new = rs_view(
        "new",
        1,
        10,
        5,
        template=template("img-new"),
        annotations={
            du.REVISION_ANNOTATION: "5",
            du.DESIRED_REPLICAS_ANNOTATION: "1",
            du.MAX_REPLICAS_ANNOTATION: "2",
        },
    )
    new = replace(
        new,
        status=replace(
            new.status, replicas=1, available_replicas=1, ready_replicas=1, observed_generation=1
        ),
    )
    d = replace(
        d,
        status=replace(
            d.status, replicas=1, updated_replicas=1, available_replicas=1, observed_generation=1
        ),
    )
    plan = plan_deployment(d, [*old, new], [], T0)
    deleted = [a.name for a in plan.actions if isinstance(a, DeleteReplicaSet)]
    assert deleted == ["old0", "old1"]


def test_rollback_copies_the_template_of_the_revision() -> None:
    cluster = Cluster(deployment())
    cluster.settle()
    v1 = cluster.new_rs()
    cluster.d = replace(cluster.d, template=template("nginx:2"), generation=2)
    cluster.settle()
    plan = plan_rollback(cluster.d, cluster.rss.values(), 0)
    assert plan.revision == 1 and plan.template is not None
    assert plan.template == template("nginx:1")
    assert [(e.reason, e.message) for e in plan.events] == [
        ("DeploymentRollback", 'Rolled back deployment "web" to revision 1')
    ]
    cluster.d = replace(cluster.d, template=plan.template, generation=3)
    cluster.settle()
    assert cluster.new_rs().name == v1.name
    assert cluster.new_rs().annotations[du.REVISION_ANNOTATION] == "3"
    assert cluster.new_rs().annotations[du.REVISION_HISTORY_ANNOTATION] == "1"
    assert cluster.d.annotations[du.REVISION_ANNOTATION] == "3"


@pytest.mark.parametrize(
    ("to_revision", "reason", "message"),
    [
        (7, "DeploymentRollbackRevisionNotFound", "Unable to find the revision to rollback to."),
        (
            1,
            "DeploymentRollbackTemplateUnchanged",
            'The rollback revision contains the same template as current deployment "web"',
        ),
        (0, "DeploymentRollbackRevisionNotFound", "Unable to find last revision."),
    ],
)
def test_rollback_refusals(to_revision: int, reason: str, message: str) -> None:
    cluster = Cluster(deployment())
    cluster.settle()
    plan = plan_rollback(cluster.d, cluster.rss.values(), to_revision)
    assert plan.template is None
    assert [(e.type, e.reason, e.message) for e in plan.events] == [("Warning", reason, message)]


def test_hash_collision_bumps_collision_count() -> None:
    d = deployment()
    taken = f"web-{pod_template_hash(du.template_without_hash(d.template), None)}"
    plan = plan_deployment(d, [], [], T0, taken_names={taken})
    assert plan.actions == () and plan.status.collision_count == 1
    retry = plan_deployment(replace(d, status=plan.status), [], [], T0, taken_names={taken})
    (create,) = retry.actions
    assert isinstance(create, CreateReplicaSet) and create.replica_set.name != taken


def test_empty_selector_is_refused() -> None:
    plan = plan_deployment(deployment(selector=LabelSelector()), [], [], T0)
    assert plan.actions == ()
    assert [(e.type, e.reason) for e in plan.events] == [("Warning", "SelectingAll")]


def test_set_condition_keeps_transition_time_for_same_status() -> None:
    first = Condition("Available", "True", "A", "m", T0, T0)
    later = T0 + timedelta(minutes=1)
    same = set_condition((first,), Condition("Available", "True", "A", "m2", later, later))
    assert same == (first,)
    changed = set_condition((first,), Condition("Available", "True", "B", "m", later, later))
    assert changed[0].last_transition_time == T0 and changed[0].reason == "B"


def test_rolling_steps_match_the_kubernetes_example() -> None:
    """rolling.go's comment: 10 replicas, maxUnavailable 2, maxSurge 3, new pods never ready."""
    cluster = Cluster(deployment(replicas=10, max_surge=3, max_unavailable=2))
    cluster.settle()
    old = cluster.new_rs()
    cluster.ready_after = 10_000
    cluster.d = replace(cluster.d, template=template("nginx:2"), generation=2)
    sizes = []
    for _ in range(4):
        cluster.tick()
        sizes.append((cluster.rss[old.name].replicas, cluster.new_rs().replicas))
    # The first sync creates the new RS at 3 (13 in total) and, as in Kubernetes, goes on in
    # the same sync to scale the old one down to 8; then new goes to 5 and the rollout holds.
    assert sizes == [(8, 3), (8, 5), (8, 5), (8, 5)]
