"""Deployment executor: runs ``plan_deployment`` (one rollout step) and writes its actions.

Rollback: ``kubectl rollout undo`` on apps/v1 reads the ReplicaSet of the wanted revision and
PATCHes the Deployment's template to it, so a rollback is an ordinary template change and
needs nothing here. For clients without that logic Dockyard also honours the annotation
``deprecated.deployment.rollback.to: "<revision>"`` (what the old ``spec.rollbackTo`` became):
the controller runs ``plan_rollback``, writes the old template, removes the annotation, and
records ``DeploymentRollback`` or ``DeploymentRollbackRevisionNotFound``. ``spec.paused``
pauses and resumes rollouts (``kubectl rollout pause/resume``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from dockyard.controllers import convert
from dockyard.controllers.context import ControllerContext, controller_actor
from dockyard.controllers.deployment_plan import (
    CreateReplicaSet,
    DeleteReplicaSet,
    ScaleReplicaSet,
    UpdateReplicaSet,
    plan_deployment,
)
from dockyard.controllers.deployment_rollback import plan_rollback
from dockyard.controllers.deployment_sync import deployment_complete
from dockyard.controllers.runtime import Change, Key
from dockyard.controllers.views import (
    Condition,
    Event,
    ReplicaSetView,
    get_condition,
    selector_matches,
)
from dockyard.store.events import NewEvent

COMPONENT = "deployment-controller"
ROLLBACK_ANNOTATION = "deprecated.deployment.rollback.to"


def spec_problem(body: Any) -> str | None:
    d = convert.deployment_view(body)
    if d.replicas < 0:
        return f"spec.replicas: Invalid value: {d.replicas}: must be greater than or equal to 0"
    labels = convert.template_labels_of(body)
    if not d.selector.is_empty and not selector_matches(d.selector, labels):
        return (
            f"spec.template.metadata.labels: Invalid value: {dict(labels)}: "
            "`selector` does not match template `labels`"
        )
    return None


class DeploymentController:
    name = "deployment"
    batch_size = 1

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.actor = controller_actor(COMPONENT)

    def keys_for(self, change: Change) -> Iterable[Key]:
        body = change.current
        meta = convert.meta(body)
        namespace = str(meta.get("namespace") or "")
        if change.kind == "Deployment":
            return [(namespace, str(meta.get("name", "")))]
        if change.kind == "ReplicaSet":
            owner = convert.controller_owner(body)
            if owner is not None and owner.get("kind") == "Deployment":
                return [(namespace, str(owner.get("name", "")))]
        if change.kind == "Pod":  # Recreate waits for old pods to be gone
            owner = convert.controller_owner(body)
            if owner is not None and owner.get("kind") == "ReplicaSet":
                rs = self.ctx.cache.get("ReplicaSet", namespace, str(owner.get("name", "")))
                rs_owner = convert.controller_owner(rs) if rs is not None else None
                if rs_owner is not None and rs_owner.get("kind") == "Deployment":
                    if change.new is None or change.type == "ObjectDeletionRequested":
                        return [(namespace, str(rs_owner.get("name", "")))]
        return []

    def resync_keys(self) -> Iterable[Key]:
        for body in self.ctx.cache.objects("Deployment"):
            meta = convert.meta(body)
            yield (str(meta.get("namespace") or ""), str(meta.get("name", "")))

    def sync(self, items: Sequence[tuple[Key, int | None]]) -> dict[Key, float | None]:
        requeue: dict[Key, float | None] = {}
        for key, causation in items:
            namespace, name = key
            body = self.ctx.cache.get("Deployment", namespace, name)
            if body is not None:
                requeue[key] = self.sync_one(body, causation)
        return requeue

    def _replicasets(self, namespace: str) -> list[tuple[ReplicaSetView, Any]]:
        return [
            (self.ctx.cache.view(b, convert.replicaset_view), b)
            for b in self.ctx.cache.objects("ReplicaSet", namespace)
        ]

    def sync_one(self, body: Any, causation: int | None) -> float | None:
        d = convert.deployment_view(body)
        problem = spec_problem(body)
        if problem is not None:
            self._report_problem(body, problem, causation)
            return None
        if ROLLBACK_ANNOTATION in d.annotations:
            self._rollback(body, causation)
            return None
        rss = self._replicasets(d.namespace)
        owned = {rs.uid for rs, _ in rss if rs.owner_uid == d.uid}
        cache = self.ctx.cache
        pods = [
            cache.view(p, convert.pod_view)
            for uid in owned
            for p in cache.dependents(uid)
            if p.get("kind") == "Pod"
        ]
        taken = {rs.name for rs, _ in rss if rs.owner_uid != d.uid}
        now = convert.now_utc()
        plan = plan_deployment(d, [rs for rs, _ in rss], pods, now, taken_names=taken)
        by_name = {rs.name: raw for rs, raw in rss}
        written: list[tuple[dict[str, Any], bool]] = []
        kube_events: list[NewEvent] = [
            self.ctx.kube_event(e, component=COMPONENT, uid=d.uid, causation=causation)
            for e in plan.events
        ]
        with self.ctx.writer.store.engine.begin() as conn:
            for action in plan.actions:
                if isinstance(action, CreateReplicaSet):
                    written.append(
                        (
                            self.ctx.create(
                                conn, self._rs_body(body, action.replica_set), self.actor, causation
                            ),
                            False,
                        )
                    )
                    continue
                raw = by_name.get(action.name)
                if raw is None:
                    continue
                new = copy.deepcopy(dict(raw))
                new["metadata"].pop("resourceVersion", None)
                if isinstance(action, ScaleReplicaSet):
                    new["spec"]["replicas"] = action.to_replicas
                    new["metadata"]["annotations"] = dict(action.annotations)
                elif isinstance(action, UpdateReplicaSet):
                    new["metadata"]["annotations"] = dict(action.annotations)
                    new["spec"]["minReadySeconds"] = action.min_ready_seconds
                elif isinstance(action, DeleteReplicaSet):
                    deleted = self.ctx.delete(conn, raw, self.actor, causation)
                    if deleted is not None:
                        written.append((deleted, True))
                    continue
                written.append((self.ctx.update(conn, new, self.actor, causation), False))
            current = body
            if plan.annotations is not None:
                new = copy.deepcopy(dict(body))
                new["metadata"].pop("resourceVersion", None)
                new["metadata"]["annotations"] = dict(plan.annotations)
                current = self.ctx.update(conn, new, self.actor, causation)
                written.append((current, False))
            if plan.status_changed or convert.status(body) != convert.deployment_status_to_json(
                plan.status
            ):
                new = copy.deepcopy(dict(current))
                new["metadata"].pop("resourceVersion", None)
                new["status"] = convert.deployment_status_to_json(plan.status)
                written.append(
                    (self.ctx.update(conn, new, self.actor, causation, status_only=True), False)
                )
            self.ctx.record(conn, kube_events)
        self.ctx.observe(written)
        return self._recheck_after(d, plan.status, now)

    @staticmethod
    def _recheck_after(d: Any, status: Any, now: Any) -> float | None:
        """When time alone may change the verdict (progress deadline, minReadySeconds)."""
        if d.paused or deployment_complete(d, status):
            return None
        progressing = get_condition(status.conditions, "Progressing")
        delays: list[float] = []
        if d.min_ready_seconds and status.ready_replicas > status.available_replicas:
            delays.append(float(d.min_ready_seconds))
        if d.has_progress_deadline and progressing is not None and progressing.status == "True":
            since = progressing.last_update_time or now
            due = since + timedelta(seconds=int(d.progress_deadline_seconds or 0)) - now
            delays.append(max(due.total_seconds(), 0) + 1)
        return min(delays) if delays else None

    def _rs_body(self, owner: Any, rs: ReplicaSetView) -> dict[str, Any]:
        assert rs.selector is not None
        return {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": rs.name,
                "namespace": rs.namespace,
                "labels": dict(rs.labels),
                "annotations": dict(rs.annotations),
                "ownerReferences": [convert.owner_reference(owner)],
            },
            "spec": {
                "replicas": rs.replicas,
                "minReadySeconds": rs.min_ready_seconds,
                "selector": convert.selector_to_json(rs.selector),
                "template": copy.deepcopy(dict(rs.template)),
            },
        }

    def _rollback(self, body: Any, causation: int | None) -> None:
        d = convert.deployment_view(body)
        try:
            to_revision = int(d.annotations[ROLLBACK_ANNOTATION] or 0)
        except ValueError:
            to_revision = -1
        rss = [rs for rs, _ in self._replicasets(d.namespace)]
        if to_revision < 0:
            event = Event(
                "DeploymentRollbackRevisionNotFound",
                "Unable to find the revision to rollback to.",
                "Warning",
                "Deployment",
                d.name,
                d.namespace,
            )
            template, annotations, events = None, None, (event,)  # type: tuple[Any, Any, tuple[Event, ...]]
        else:
            plan = plan_rollback(d, rss, to_revision)
            template, annotations, events = plan.template, plan.annotations, plan.events
        new = copy.deepcopy(dict(body))
        new["metadata"].pop("resourceVersion", None)
        kept = dict(annotations if annotations is not None else d.annotations)
        kept.pop(ROLLBACK_ANNOTATION, None)
        new["metadata"]["annotations"] = kept
        if template is not None:
            new["spec"]["template"] = copy.deepcopy(dict(template))
        with self.ctx.writer.store.engine.begin() as conn:
            stored = self.ctx.update(conn, new, self.actor, causation)
            self.ctx.record(
                conn,
                [
                    self.ctx.kube_event(e, component=COMPONENT, uid=d.uid, causation=causation)
                    for e in events
                ],
            )
        self.ctx.cache.observe(stored)

    def _report_problem(self, body: Any, problem: str, causation: int | None) -> None:
        d = convert.deployment_view(body)
        current = get_condition(d.status.conditions, "ReplicaFailure")
        if current is not None and current.message == problem:
            return
        now = convert.now_utc()
        conditions = [c for c in d.status.conditions if c.type != "ReplicaFailure"]
        conditions.append(Condition("ReplicaFailure", "True", "InvalidSpec", problem, now, now))
        new = copy.deepcopy(dict(body))
        new["metadata"].pop("resourceVersion", None)
        new["status"] = {
            **convert.status(body),
            "observedGeneration": d.generation,
            "conditions": [convert.condition_to_json(c) for c in conditions],
        }
        event = Event("InvalidSpec", problem, "Warning", "Deployment", d.name, d.namespace)
        with self.ctx.writer.store.engine.begin() as conn:
            stored = self.ctx.update(conn, new, self.actor, causation, status_only=True)
            self.ctx.record(
                conn,
                [self.ctx.kube_event(event, component=COMPONENT, uid=d.uid, causation=causation)],
            )
        self.ctx.cache.observe(stored)


__all__ = ["ROLLBACK_ANNOTATION", "DeploymentController", "spec_problem"]
