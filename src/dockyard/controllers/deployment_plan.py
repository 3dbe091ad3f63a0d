"""Deployment sync as a pure planner: one step of a rollout per call.

Mirrors pkg/controller/deployment: ``syncDeployment`` (deployment_controller.go) dispatching to
``sync``/``scale`` for paused deployments and scaling events (sync.go), ``rolloutRolling``
(rolling.go), ``rolloutRecreate`` (recreate.go) and ``syncRolloutStatus`` (progress.go).
Rollbacks are :func:`dockyard.controllers.deployment_rollback.plan_rollback`.

Known simplifications: the ReplicaSets considered are those whose controller ownerReference is
this Deployment (adopting orphan ReplicaSets is not planned); ``ReplicaFailure`` conditions are
not copied from ReplicaSets; syncing an existing new ReplicaSet's annotations and the
Deployment's revision happen in one sync (Kubernetes returns after the first).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from dockyard.controllers import deployment_util as du
from dockyard.controllers.deployment_sync import (
    CreateReplicaSet,
    DeleteReplicaSet,
    DeploymentPlan,
    DeploymentSync,
    ReplicaSetAction,
    ScaleReplicaSet,
    UpdateReplicaSet,
    active_replica_sets,
    deployment_complete,
    deployment_progressing,
    deployment_timed_out,
)
from dockyard.controllers.deployment_util import DeploymentStatus, DeploymentView
from dockyard.controllers.views import (
    Condition,
    PodView,
    ReplicaSetView,
    get_condition,
    set_condition,
)

__all__ = [
    "CreateReplicaSet",
    "DeleteReplicaSet",
    "DeploymentPlan",
    "ReplicaSetAction",
    "ScaleReplicaSet",
    "UpdateReplicaSet",
    "plan_deployment",
]


def plan_deployment(
    deployment: DeploymentView,
    replicasets: Iterable[ReplicaSetView],
    pods: Iterable[PodView],
    now: datetime,
    *,
    taken_names: Collection[str] = frozenset(),
) -> DeploymentPlan:
    """One ``syncDeployment`` of ``deployment``.

    ``replicasets`` may include any ReplicaSets; those controlled by the Deployment
    (``owner_uid``) count. ``pods`` are the pods of those ReplicaSets (Recreate waits for them).
    ``taken_names`` are names of other ReplicaSets in the namespace, so a name collision bumps
    ``collisionCount`` as Kubernetes does.
    """
    owned = {rs.name: rs for rs in replicasets if rs.owner_uid == deployment.uid}
    sync = DeploymentSync(deployment, owned, tuple(pods), now, taken_names)
    status = _dispatch(sync)
    d = sync.d
    annotations = d.annotations if d.annotations != deployment.annotations else None
    return DeploymentPlan(
        actions=tuple(sync.actions),
        annotations=annotations,
        status=status,
        status_changed=status != deployment.status,
        events=tuple(sync.events),
    )


def _dispatch(sync: DeploymentSync) -> DeploymentStatus:
    d = sync.d
    if d.selector.is_empty:
        sync.event(
            "SelectingAll",
            "This deployment is selecting all pods. A non-empty selector is required.",
            "Warning",
        )
        if d.status.observed_generation < d.generation:
            return replace(d.status, observed_generation=d.generation)
        return d.status
    if d.deletion_timestamp is not None:
        new_rs, old = sync.all_replica_sets(create=False)
        return _status_only(sync, new_rs, old)
    _check_paused_conditions(sync)
    if sync.d.paused:
        return _sync_scale(sync)
    if _is_scaling_event(sync):
        return _sync_scale(sync)
    if sync.d.strategy == "Recreate":
        return _rollout_recreate(sync)
    return _rollout_rolling(sync)


def _status_only(
    sync: DeploymentSync, new_rs: ReplicaSetView | None, old: Sequence[ReplicaSetView]
) -> DeploymentStatus:
    """``syncDeploymentStatus``: numbers and Available, no progress estimate."""
    all_rss = [*old, new_rs] if new_rs is not None else list(old)
    return du.calculate_status(all_rss, new_rs, sync.d, sync.now)


def _check_paused_conditions(sync: DeploymentSync) -> None:
    """``checkPausedConditions``: Progressing Unknown DeploymentPaused / DeploymentResumed."""
    d = sync.d
    if not d.has_progress_deadline:
        return
    condition = get_condition(d.status.conditions, "Progressing")
    if condition is not None and condition.reason == "ProgressDeadlineExceeded":
        return
    paused_condition = condition is not None and condition.reason == "DeploymentPaused"
    if d.paused and not paused_condition:
        sync.set_status_condition(
            Condition(
                "Progressing",
                "Unknown",
                "DeploymentPaused",
                "Deployment is paused",
                sync.now,
                sync.now,
            )
        )
    elif not d.paused and paused_condition:
        sync.set_status_condition(
            Condition(
                "Progressing",
                "Unknown",
                "DeploymentResumed",
                "Deployment is resumed",
                sync.now,
                sync.now,
            )
        )


def _is_scaling_event(sync: DeploymentSync) -> bool:
    """``isScalingEvent``: an active RS records a different desired-replicas annotation."""
    new_rs, old = sync.all_replica_sets(create=False)
    for rs in active_replica_sets([*old, new_rs]):
        try:
            desired = int(rs.annotations[du.DESIRED_REPLICAS_ANNOTATION])
        except (KeyError, ValueError):
            continue
        if desired != sync.d.replicas:
            return True
    return False


def _sync_scale(sync: DeploymentSync) -> DeploymentStatus:
    """``sync``: proportional scale, history cleanup when paused, plain status."""
    new_rs, old = sync.all_replica_sets(create=False)
    _scale(sync, new_rs, old)
    if sync.d.paused:
        sync.cleanup(old)
    return _status_only(sync, new_rs, old)


def _find_active_or_latest(
    new_rs: ReplicaSetView | None, old: Sequence[ReplicaSetView]
) -> ReplicaSetView | None:
    """``FindActiveOrLatest``: the only active RS, the newest when none is active, else None."""
    if new_rs is None and not old:
        return None
    newest_first = list(reversed(du.sorted_by_creation(old)))
    active = active_replica_sets([*newest_first, new_rs])
    if not active:
        return new_rs if new_rs is not None else newest_first[0]
    return active[0] if len(active) == 1 else None


def _scale(
    sync: DeploymentSync, new_rs: ReplicaSetView | None, old: Sequence[ReplicaSetView]
) -> None:
    """``scale``: spread a change of ``spec.replicas`` over the active RSs by their share."""
    d = sync.d
    target = _find_active_or_latest(new_rs, old)
    if target is not None:
        if target.replicas != d.replicas:
            sync.scale_and_record(target, d.replicas)
        return
    if du.is_saturated(d, new_rs):
        for rs in active_replica_sets(old):
            sync.scale_and_record(rs, 0)
        return
    if not d.is_rolling_update:
        return
    active = active_replica_sets([*old, new_rs])
    allowed = d.replicas + du.max_surge(d) if d.replicas > 0 else 0
    to_add = allowed - sum(rs.replicas for rs in active)
    operation = ""
    if to_add > 0:
        active, operation = du.sorted_by_size(active, newer_first=True), "up"
    elif to_add < 0:
        active, operation = du.sorted_by_size(active, newer_first=False), "down"
    added = 0
    sizes: dict[str, int] = {}
    for rs in active:
        proportion = du.get_proportion(rs, d, to_add, added) if to_add != 0 else 0
        sizes[rs.name] = rs.replicas + proportion
        added += proportion
    for index, rs in enumerate(active):
        if index == 0 and to_add != 0:
            # Leftovers go to the largest ReplicaSet.
            sizes[rs.name] = max(sizes[rs.name] + to_add - added, 0)
        sync.scale(rs, sizes[rs.name], operation)


def _rollout_rolling(sync: DeploymentSync) -> DeploymentStatus:
    """``rolloutRolling``: scale the new RS up, or else the old ones down, one step."""
    new_rs, old = sync.all_replica_sets(create=True)
    if new_rs is None:  # name collision: only collisionCount changes this time
        return sync.d.status
    all_rss = [*old, new_rs]
    if _reconcile_new(sync, all_rss, new_rs):
        return _rollout_status(sync, all_rss, new_rs)
    if _reconcile_old(sync, all_rss, active_replica_sets(old), new_rs):
        return _rollout_status(sync, all_rss, new_rs)
    if deployment_complete(sync.d, sync.d.status):
        sync.cleanup(old)
    return _rollout_status(sync, all_rss, new_rs)


def _reconcile_new(
    sync: DeploymentSync, all_rss: Sequence[ReplicaSetView], new_rs: ReplicaSetView
) -> bool:
    """``reconcileNewReplicaSet``."""
    d = sync.d
    if new_rs.replicas == d.replicas:
        return False
    if new_rs.replicas > d.replicas:
        return sync.scale_and_record(new_rs, d.replicas)
    return sync.scale_and_record(new_rs, du.new_rs_new_replicas(d, all_rss, new_rs))


def _reconcile_old(
    sync: DeploymentSync,
    all_rss: Sequence[ReplicaSetView],
    old: Sequence[ReplicaSetView],
    new_rs: ReplicaSetView,
) -> bool:
    """``reconcileOldReplicaSets``: never below ``replicas - maxUnavailable`` available."""
    if sum(rs.replicas for rs in old) == 0:
        return False
    min_available = sync.d.replicas - du.max_unavailable(sync.d)
    new_unavailable = new_rs.replicas - new_rs.status.available_replicas
    max_scaled_down = sum(rs.replicas for rs in all_rss) - min_available - new_unavailable
    if max_scaled_down <= 0:
        return False
    cleaned = _cleanup_unhealthy(sync, old, max_scaled_down)
    if cleaned is None:
        return False
    old, cleanup_count = cleaned
    scaled_down = _scale_down_old_for_rolling(sync, [*old, new_rs], old)
    return cleanup_count + scaled_down > 0


def _cleanup_unhealthy(
    sync: DeploymentSync, old: Sequence[ReplicaSetView], max_cleanup: int
) -> tuple[list[ReplicaSetView], int] | None:
    """``cleanupUnhealthyReplicas``: drop old RSs' unavailable pods first, oldest RS first.

    None when Kubernetes would return an error (an RS with more available pods than replicas).
    """
    result: list[ReplicaSetView] = []
    total = 0
    for rs in du.sorted_by_creation(old):
        unhealthy = rs.replicas - rs.status.available_replicas
        if total >= max_cleanup or rs.replicas == 0 or unhealthy == 0:
            result.append(rs)
            continue
        count = min(max_cleanup - total, unhealthy)
        if count < 0:
            return None
        sync.scale_and_record(rs, rs.replicas - count)
        result.append(sync.rss[rs.name])
        total += count
    return result, total


def _scale_down_old_for_rolling(
    sync: DeploymentSync, all_rss: Sequence[ReplicaSetView], old: Sequence[ReplicaSetView]
) -> int:
    """``scaleDownOldReplicaSetsForRollingUpdate``: only pods above minAvailable, oldest first."""
    min_available = sync.d.replicas - du.max_unavailable(sync.d)
    available = sum(rs.status.available_replicas for rs in all_rss)
    if available <= min_available:
        return 0
    to_scale_down = available - min_available
    total = 0
    for rs in du.sorted_by_creation(old):
        if total >= to_scale_down:
            break
        if rs.replicas == 0:
            continue
        count = min(rs.replicas, to_scale_down - total)
        sync.scale_and_record(rs, rs.replicas - count)
        total += count
    return total


def _old_pods_running(
    sync: DeploymentSync, new_rs: ReplicaSetView | None, old: Sequence[ReplicaSetView]
) -> bool:
    """``oldPodsRunning``: any non-terminal pod (terminating ones too) of an old RS."""
    if sum(rs.status.replicas for rs in old) > 0:
        return True
    old_uids = {rs.uid for rs in sync.rss.values() if new_rs is None or rs.name != new_rs.name}
    return any(
        pod.owner_uid in old_uids and pod.phase not in ("Succeeded", "Failed") for pod in sync.pods
    )


def _rollout_recreate(sync: DeploymentSync) -> DeploymentStatus:
    """``rolloutRecreate``: old to 0, wait until their pods are gone, then the new RS up."""
    new_rs, old = sync.all_replica_sets(create=False)
    all_rss = [*old, new_rs] if new_rs is not None else list(old)
    scaled_down = False
    for rs in active_replica_sets(old):
        scaled_down = sync.scale_and_record(rs, 0) or scaled_down
    if scaled_down or _old_pods_running(sync, new_rs, old):
        return _rollout_status(sync, all_rss, new_rs)
    if new_rs is None:
        new_rs, old = sync.all_replica_sets(create=True)
        if new_rs is None:
            return sync.d.status
        all_rss = [*old, new_rs]
    sync.scale_and_record(new_rs, sync.d.replicas)
    if deployment_complete(sync.d, sync.d.status):
        sync.cleanup(old)
    return _rollout_status(sync, all_rss, new_rs)


def _rollout_status(
    sync: DeploymentSync, all_rss: Sequence[ReplicaSetView], new_rs: ReplicaSetView | None
) -> DeploymentStatus:
    """``syncRolloutStatus``: the status plus the Progressing condition."""
    d, now = sync.d, sync.now
    status = du.calculate_status(all_rss, new_rs, d, now)
    if not d.has_progress_deadline:
        conditions = tuple(c for c in status.conditions if c.type != "Progressing")
        return replace(status, conditions=conditions)
    current = get_condition(d.status.conditions, "Progressing")
    if (
        status.replicas == status.updated_replicas
        and current is not None
        and current.reason == "NewReplicaSetAvailable"
    ):
        return status
    subject = f'ReplicaSet "{new_rs.name}"' if new_rs else f'Deployment "{d.name}"'
    if deployment_complete(d, status):
        condition = Condition(
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            f"{subject} has successfully progressed.",
            now,
            now,
        )
        return replace(status, conditions=set_condition(status.conditions, condition))
    if deployment_progressing(d, status):
        # Progress refreshes lastUpdateTime even with an unchanged reason, so the condition is
        # replaced rather than merged; lastTransitionTime survives while it stays True.
        transition = current.last_transition_time if current and current.status == "True" else now
        condition = Condition(
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            f"{subject} is progressing.",
            now,
            transition,
        )
        kept = tuple(c for c in status.conditions if c.type != "Progressing")
        return replace(status, conditions=(*kept, condition))
    if deployment_timed_out(d, status, now):
        condition = Condition(
            "Progressing",
            "False",
            "ProgressDeadlineExceeded",
            f"{subject} has timed out progressing.",
            now,
            now,
        )
        return replace(status, conditions=set_condition(status.conditions, condition))
    return status
