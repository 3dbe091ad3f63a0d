"""The Deployment plan's actions and the working state of one sync.

Kubernetes' deployment controller writes each change at once and goes on with the object the API
returned. :class:`DeploymentSync` does the same on a working copy: every write becomes an action
(in the order the executor must apply it) and updates the copy the next step reads. The steps
themselves (rolling, recreate, proportional scaling, status) are in ``deployment_plan``.

Ported from pkg/controller/deployment/sync.go (``getNewReplicaSet``, ``scaleReplicaSet``,
``cleanupDeployment``) and util/deployment_util.go (``SetNewReplicaSetAnnotations``,
``DeploymentComplete``, ``DeploymentProgressing``, ``DeploymentTimedOut``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from dockyard.controllers import deployment_util as du
from dockyard.controllers.deployment_util import DeploymentStatus, DeploymentView
from dockyard.controllers.names import pod_template_hash
from dockyard.controllers.views import (
    Condition,
    Event,
    EventType,
    PodView,
    ReplicaSetView,
    get_condition,
    set_condition,
    template_labels,
)

__all__ = [
    "CreateReplicaSet",
    "DeleteReplicaSet",
    "DeploymentPlan",
    "DeploymentSync",
    "ReplicaSetAction",
    "ScaleReplicaSet",
    "UpdateReplicaSet",
    "active_replica_sets",
    "deployment_complete",
    "deployment_progressing",
    "deployment_timed_out",
]

MAX_REV_HISTORY_LENGTH_IN_CHARS = 2000


@dataclass(frozen=True)
class CreateReplicaSet:
    """Create this ReplicaSet (``uid`` empty: the store assigns it)."""

    replica_set: ReplicaSetView


@dataclass(frozen=True)
class ScaleReplicaSet:
    """Set ``spec.replicas`` and the desired/max-replicas annotations (full new map)."""

    name: str
    from_replicas: int
    to_replicas: int
    annotations: Mapping[str, str]


@dataclass(frozen=True)
class UpdateReplicaSet:
    """Sync the new ReplicaSet's annotations (revision, copied ones) and minReadySeconds."""

    name: str
    annotations: Mapping[str, str]
    min_ready_seconds: int


@dataclass(frozen=True)
class DeleteReplicaSet:
    """Delete an old, empty ReplicaSet beyond ``revisionHistoryLimit``."""

    name: str
    uid: str


ReplicaSetAction = CreateReplicaSet | ScaleReplicaSet | UpdateReplicaSet | DeleteReplicaSet


@dataclass(frozen=True)
class DeploymentPlan:
    """One sync's decisions. Apply ``actions`` in order, then ``annotations`` (when not None,
    the Deployment's new annotation map), then write ``status`` if ``status_changed``."""

    actions: tuple[ReplicaSetAction, ...]
    annotations: Mapping[str, str] | None
    status: DeploymentStatus
    status_changed: bool
    events: tuple[Event, ...]


def _condition(type_: str, status: str, reason: str, message: str, now: datetime) -> Condition:
    return Condition(type_, status, reason, message, now, now)


@dataclass
class DeploymentSync:
    """The working state of one sync; discarded when the plan is built."""

    d: DeploymentView
    rss: dict[str, ReplicaSetView]
    pods: Sequence[PodView]
    now: datetime
    taken_names: Collection[str]
    actions: list[ReplicaSetAction] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    collided: bool = False

    def event(self, reason: str, message: str, type_: EventType = "Normal") -> None:
        self.events.append(
            Event(reason, message, type_, "Deployment", self.d.name, self.d.namespace)
        )

    def set_status_condition(self, condition: Condition) -> None:
        conditions = set_condition(self.d.status.conditions, condition)
        self.d = replace(self.d, status=replace(self.d.status, conditions=conditions))

    # --- scaling -------------------------------------------------------------------------

    def scale(self, rs: ReplicaSetView, new_scale: int, operation: str = "") -> bool:
        """``scaleReplicaSet``: size and replica annotations; an event only for a size change."""
        desired = str(self.d.replicas)
        maximum = str(self.d.replicas + du.max_surge(self.d))
        size_changed = rs.replicas != new_scale
        annotations_changed = (
            rs.annotations.get(du.DESIRED_REPLICAS_ANNOTATION) != desired
            or rs.annotations.get(du.MAX_REPLICAS_ANNOTATION) != maximum
        )
        if not size_changed and not annotations_changed:
            return False
        annotations = {
            **rs.annotations,
            du.DESIRED_REPLICAS_ANNOTATION: desired,
            du.MAX_REPLICAS_ANNOTATION: maximum,
        }
        self.rss[rs.name] = replace(rs, replicas=new_scale, annotations=annotations)
        self.actions.append(ScaleReplicaSet(rs.name, rs.replicas, new_scale, annotations))
        if size_changed:
            operation = operation or ("up" if rs.replicas < new_scale else "down")
            self.event(
                "ScalingReplicaSet",
                f"Scaled {operation} replica set {rs.name} from {rs.replicas} to {new_scale}",
            )
        return size_changed

    def scale_and_record(self, rs: ReplicaSetView, new_scale: int) -> bool:
        """``scaleReplicaSetAndRecordEvent``: nothing when the size is already right."""
        if rs.replicas == new_scale:
            return False
        return self.scale(rs, new_scale)

    # --- finding and creating the new ReplicaSet -----------------------------------------

    def all_replica_sets(
        self, *, create: bool
    ) -> tuple[ReplicaSetView | None, list[ReplicaSetView]]:
        """``getAllReplicaSetsAndSyncRevision``: ``(new RS or None, old RSs)``."""
        existing = next(
            (
                rs
                for rs in du.sorted_by_creation(self.rss.values())
                if du.equal_ignore_hash(rs.template, self.d.template)
            ),
            None,
        )
        old = [rs for rs in self.rss.values() if existing is None or rs.name != existing.name]
        return self._new_replica_set(old, existing, create=create), old

    def _sync_annotations(
        self, annotations: dict[str, str], new_revision: str, *, exists: bool
    ) -> None:
        """``SetNewReplicaSetAnnotations`` on ``annotations`` in place."""
        for key, value in self.d.annotations.items():
            if key not in du.ANNOTATIONS_TO_SKIP:
                annotations[key] = value
        old_revision = annotations.get(du.REVISION_ANNOTATION)
        try:
            old_number = int(old_revision) if old_revision else 0
        except ValueError:
            return
        if old_number < int(new_revision):
            annotations[du.REVISION_ANNOTATION] = new_revision
            if old_revision is not None:
                # Rolling back to this ReplicaSet: keep the revisions it served before.
                history = annotations.get(du.REVISION_HISTORY_ANNOTATION, "")
                parts = [p for p in history.split(",") if p] + [old_revision]
                while len(",".join(parts)) > MAX_REV_HISTORY_LENGTH_IN_CHARS and len(parts) > 1:
                    parts.pop(0)
                annotations[du.REVISION_HISTORY_ANNOTATION] = ",".join(parts)
        if not exists:
            annotations[du.DESIRED_REPLICAS_ANNOTATION] = str(self.d.replicas)
            annotations[du.MAX_REPLICAS_ANNOTATION] = str(self.d.replicas + du.max_surge(self.d))

    def _set_deployment_revision(self, revision: str) -> None:
        if self.d.annotations.get(du.REVISION_ANNOTATION) != revision:
            annotations = {**self.d.annotations, du.REVISION_ANNOTATION: revision}
            self.d = replace(self.d, annotations=annotations)

    def _new_replica_set(
        self, old: list[ReplicaSetView], existing: ReplicaSetView | None, *, create: bool
    ) -> ReplicaSetView | None:
        """``getNewReplicaSet``."""
        new_revision = str(du.max_revision(old) + 1)
        if existing is not None:
            annotations = dict(existing.annotations)
            self._sync_annotations(annotations, new_revision, exists=True)
            if (
                annotations != existing.annotations
                or existing.min_ready_seconds != self.d.min_ready_seconds
            ):
                existing = replace(
                    existing, annotations=annotations, min_ready_seconds=self.d.min_ready_seconds
                )
                self.rss[existing.name] = existing
                self.actions.append(
                    UpdateReplicaSet(existing.name, annotations, self.d.min_ready_seconds)
                )
            self._set_deployment_revision(existing.annotations.get(du.REVISION_ANNOTATION, ""))
            progressing = get_condition(self.d.status.conditions, "Progressing")
            if self.d.has_progress_deadline and progressing is None:
                message = f'Found new replica set "{existing.name}"'
                self.set_status_condition(
                    _condition("Progressing", "True", "FoundNewReplicaSet", message, self.now)
                )
            return existing
        if not create:
            return None
        hash_value = pod_template_hash(
            du.template_without_hash(self.d.template), self.d.status.collision_count
        )
        name = f"{self.d.name}-{hash_value}"
        if name in self.taken_names or name in self.rss:
            # ComputeHash collision: bump collisionCount; the next sync hashes differently.
            count = (self.d.status.collision_count or 0) + 1
            self.d = replace(self.d, status=replace(self.d.status, collision_count=count))
            self.collided = True
            return None
        template = du.template_without_hash(self.d.template)
        labels = {**template_labels(template), du.DEFAULT_DEPLOYMENT_UNIQUE_LABEL_KEY: hash_value}
        template["metadata"] = {**template.get("metadata", {}), "labels": labels}
        new_annotations: dict[str, str] = {}
        self._sync_annotations(new_annotations, new_revision, exists=False)
        new_rs = ReplicaSetView(
            uid="",
            name=name,
            namespace=self.d.namespace,
            replicas=0,
            selector=self.d.selector.with_label(du.DEFAULT_DEPLOYMENT_UNIQUE_LABEL_KEY, hash_value),
            template=template,
            labels=labels,
            annotations=new_annotations,
            owner_uid=self.d.uid,
            min_ready_seconds=self.d.min_ready_seconds,
            created_at=self.now,
        )
        new_rs = replace(new_rs, replicas=du.new_rs_new_replicas(self.d, [*old, new_rs], new_rs))
        self.rss[name] = new_rs
        self.actions.append(CreateReplicaSet(new_rs))
        if new_rs.replicas > 0:
            self.event(
                "ScalingReplicaSet", f"Scaled up replica set {name} from 0 to {new_rs.replicas}"
            )
        self._set_deployment_revision(new_revision)
        if self.d.has_progress_deadline:
            message = f'Created new replica set "{name}"'
            self.set_status_condition(
                _condition("Progressing", "True", "NewReplicaSetCreated", message, self.now)
            )
        return new_rs

    # --- history -------------------------------------------------------------------------

    def cleanup(self, old: Iterable[ReplicaSetView]) -> None:
        """``cleanupDeployment``: delete the oldest empty RSs beyond revisionHistoryLimit."""
        limit = self.d.revision_history_limit
        if limit is None or limit == 2**31 - 1:
            return
        cleanable = [self.rss[rs.name] for rs in old if rs.deletion_timestamp is None]
        diff = len(cleanable) - limit
        for rs in du.sorted_by_revision(cleanable)[: max(diff, 0)]:
            busy = rs.status.replicas != 0 or rs.replicas != 0
            if busy or rs.generation > rs.status.observed_generation:
                continue
            del self.rss[rs.name]
            self.actions.append(DeleteReplicaSet(rs.name, rs.uid))


def active_replica_sets(rss: Iterable[ReplicaSetView | None]) -> list[ReplicaSetView]:
    """``FilterActiveReplicaSets``: replicas > 0."""
    return [rs for rs in rss if rs is not None and rs.replicas > 0]


def deployment_complete(d: DeploymentView, status: DeploymentStatus) -> bool:
    """``DeploymentComplete``: all replicas updated and available, no old pods left."""
    return (
        status.updated_replicas == d.replicas
        and status.replicas == d.replicas
        and status.available_replicas == d.replicas
        and status.observed_generation >= d.generation
    )


def deployment_progressing(d: DeploymentView, new: DeploymentStatus) -> bool:
    """``DeploymentProgressing``: more updated/ready/available pods, or fewer old ones."""
    old = d.status
    return (
        new.updated_replicas > old.updated_replicas
        or new.replicas - new.updated_replicas < old.replicas - old.updated_replicas
        or new.ready_replicas > old.ready_replicas
        or new.available_replicas > old.available_replicas
    )


def deployment_timed_out(d: DeploymentView, new: DeploymentStatus, now: datetime) -> bool:
    """``DeploymentTimedOut``: no progress reported for progressDeadlineSeconds."""
    if not d.has_progress_deadline or d.progress_deadline_seconds is None:
        return False
    condition = get_condition(new.conditions, "Progressing")
    if condition is None or condition.reason == "NewReplicaSetAvailable":
        return False
    if condition.reason == "ProgressDeadlineExceeded":
        return True
    if condition.last_update_time is None:
        return False
    deadline = condition.last_update_time + timedelta(seconds=d.progress_deadline_seconds)
    return deadline < now
